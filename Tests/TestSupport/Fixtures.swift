import Foundation

/// Files captured from real peers, under Tests/Fixtures/<peer>/.
public enum Fixtures {
    public static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    public static func path(_ peer: String, _ name: String) -> String {
        directory.appendingPathComponent(peer).appendingPathComponent(name).path
    }

    public static func bytes(_ peer: String, _ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: path(peer, name))))
    }
}
