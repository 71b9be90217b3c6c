// PEM armour (RFC 7468) in Swift over DER's Base64; works on UTF-8 bytes so both build modes agree.
import DER
import SystemSupport

/// PEM armour (RFC 7468).
public enum PEM {
    private static let beginMarker = Array("-----BEGIN ".utf8)
    private static let endMarker = Array("-----END ".utf8)
    private static let dashes = Array("-----".utf8)

    /// Every `-----BEGIN label-----` block in `text`, in order, as (label, DER). Text outside blocks is
    /// ignored (RFC 7468 allows explanatory text); no block at all gives an empty array.
    /// - Throws: `fileFormat` for a block without its matching END line, or with RFC 1421 headers
    ///   (legacy encrypted PEM); `derInvalidValue` for a body that is not base64.
    public static func decode(_ text: String) throws(SCEPError) -> [(label: String, der: [UInt8])] {
        var blocks: [(label: String, der: [UInt8])] = []
        var openLabel: [UInt8]? = nil
        var body: [UInt8] = []
        for rawLine in Array(text.utf8).split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            let line = ASCII.trimmed(rawLine)
            if let label = openLabel {
                if let endLabel = marker(endMarker, in: line) {
                    if endLabel != label {
                        throw SCEPError(
                            .fileFormat,
                            "PEM block BEGIN " + String(decoding: label, as: UTF8.self) + " ends with END "
                                + String(decoding: endLabel, as: UTF8.self))
                    }
                    let der = try Base64.decode(String(decoding: body, as: UTF8.self))
                    blocks.append((label: String(decoding: label, as: UTF8.self), der: der))
                    openLabel = nil
                    body = []
                } else if line.contains(UInt8(ascii: ":")) {
                    throw SCEPError(
                        .fileFormat,
                        "PEM block " + String(decoding: label, as: UTF8.self)
                            + " has headers (legacy encrypted PEM?); convert it with openssl first")
                } else {
                    body += line
                }
            } else if let label = marker(beginMarker, in: line) {
                openLabel = label
            }
        }
        if let label = openLabel {
            throw SCEPError(.fileFormat, "PEM block " + String(decoding: label, as: UTF8.self) + " has no END line")
        }
        return blocks
    }

    /// One block with 64-column lines and a trailing newline.
    /// - Parameters:
    ///   - label: e.g. `CERTIFICATE`, `CERTIFICATE REQUEST`.
    ///   - der: the bytes to armour.
    public static func encode(label: String, der: [UInt8]) -> String {
        let encoded = Array(Base64.encode(der).utf8)
        var out: [UInt8] = beginMarker + Array(label.utf8) + dashes + [UInt8(ascii: "\n")]
        var index = 0
        while index < encoded.count {
            let end = min(index + 64, encoded.count)
            out += encoded[index..<end]
            out.append(UInt8(ascii: "\n"))
            index = end
        }
        out += endMarker + Array(label.utf8) + dashes + [UInt8(ascii: "\n")]
        return String(decoding: out, as: UTF8.self)
    }

    /// The label of a `-----BEGIN label-----` / `-----END label-----` line, or nil.
    private static func marker(_ prefix: [UInt8], in line: ArraySlice<UInt8>) -> [UInt8]? {
        guard line.count >= prefix.count + dashes.count, line.starts(with: prefix),
            line.suffix(dashes.count).elementsEqual(dashes)
        else { return nil }
        return Array(line.dropFirst(prefix.count).dropLast(dashes.count))
    }
}
