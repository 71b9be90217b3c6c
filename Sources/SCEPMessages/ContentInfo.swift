import DER
import SystemSupport

/// CMS ContentInfo (RFC 5652 §3).
///
///     ContentInfo ::= SEQUENCE {
///         contentType ContentType,
///         content     [0] EXPLICIT ANY DEFINED BY contentType }
public struct ContentInfo {
    public let contentType: String
    public let content: DERNode

    public static func encode(contentType: String, content: [UInt8]) -> [UInt8] {
        DER.sequence([DER.oid(contentType), DER.explicit(0, [content])])
    }

    public init(parsing node: DERNode) throws(SCEPError) {
        var fields = try node.elements(DER.Tag.sequence, "ContentInfo")
        contentType = try fields.next("contentType").objectIdentifier("ContentInfo.contentType")
        let wrapper = try fields.next(DER.Tag.contextConstructed(0), "content")
        guard wrapper.children.count == 1 else {
            throw SCEPError(.messageMalformed, "ContentInfo.content must hold exactly one element")
        }
        content = wrapper.children[0]
        try fields.finish()
    }

    /// Parses `bytes` and requires the given content type.
    public init(parsing bytes: [UInt8], expecting contentType: String, _ what: String) throws(SCEPError) {
        try self.init(parsing: try DERNode(parsing: bytes))
        guard self.contentType == contentType else {
            throw SCEPError(.messageUnsupported, what + ": content type " + self.contentType + ", expected " + contentType)
        }
    }
}
