// OpenSSL's command line as the independent judge of what the product emits and accepts, and
// scratch directories for the files tests hand to it. Shared by every test target.
import Foundation

public struct OpenSSLFailure: Error, CustomStringConvertible {
    public let arguments: [String]
    public let status: Int32
    public let output: String
    public var description: String { "openssl " + arguments.joined(separator: " ") + " exited " + String(status) + ": " + output }
}

/// A temporary directory removed when the value is dropped; every file a test writes lives here.
public final class ScratchDirectory {
    public let url: URL

    public init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("scepcrypto-" + UUID().uuidString)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    public func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    public func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = path(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    public func write(_ name: String, _ text: String) throws -> String { try write(name, Array(text.utf8)) }

    public func read(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path(name)))) }

    public func readText(_ name: String) throws -> String { String(decoding: try read(name), as: UTF8.self) }
}

public enum OpenSSL {
    /// Runs `openssl arguments...` with `input` on stdin; returns stdout, throws on a non-zero exit.
    @discardableResult
    public static func run(_ arguments: [String], input: [UInt8] = []) throws -> [UInt8] {
        let result = try runAllowingFailure(arguments, input: input)
        if result.status != 0 {
            throw OpenSSLFailure(arguments: arguments, status: result.status, output: String(decoding: result.output, as: UTF8.self))
        }
        return result.output
    }

    /// Runs openssl and returns its exit status and combined output without judging it.
    public static func runAllowingFailure(_ arguments: [String], input: [UInt8] = []) throws -> (status: Int32, output: [UInt8]) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        let stdin = Pipe()
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        stdin.fileHandleForWriting.write(Data(input))
        try stdin.fileHandleForWriting.close()
        // Read before waiting so a large output cannot fill the pipe and stall openssl.
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let errors = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        if process.terminationStatus != 0 {
            return (process.terminationStatus, Array(output) + Array(errors))
        }
        return (0, Array(output))
    }

    public static func text(_ arguments: [String], input: [UInt8] = []) throws -> String {
        String(decoding: try run(arguments, input: input), as: UTF8.self)
    }
}

public func hex(_ bytes: [UInt8]) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}

public func bytes(hex text: String) -> [UInt8] {
    let digits = Array(text.utf8)
    var out: [UInt8] = []
    var index = 0
    while index + 1 < digits.count {
        out.append(UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16)!)
        index += 2
    }
    return out
}
