import CSCEPShim
import DER
import SystemSupport
import Testing
@testable import SCEPPKCS11

@Suite struct TemplateTests {
    /// PKCS#11 modules read a CK_ULONG value (CKA_CLASS, CKA_KEY_TYPE, CKA_MODULUS_BITS) through a
    /// CK_ULONG pointer: each value must sit at CK_ULONG alignment whatever came before it (a one-byte
    /// CK_BBOOL, an odd-length label), or a strict-alignment CPU faults and C reads it with UB.
    @Test func everyAttributeValueIsAlignedForCKULONG() throws {
        let attributes = [
            Attribute(UInt(CKA_TOKEN), bool: true),
            Attribute(UInt(CKA_CLASS), ulong: UInt(CKO_PRIVATE_KEY)),
            Attribute(UInt(CKA_LABEL), bytes: Array("odd".utf8)),
            Attribute(UInt(CKA_KEY_TYPE), ulong: UInt(CKK_RSA)),
            Attribute(UInt(CKA_MODULUS_BITS), ulong: 2048),
        ]
        let alignment = MemoryLayout<CK_ULONG>.alignment
        try PKCS11Session.withTemplate(attributes) { (template, count) throws(SCEPError) -> Void in
            #expect(Int(count) == attributes.count)
            for index in attributes.indices {
                let entry = template![index]
                let address = Int(bitPattern: entry.pValue)
                #expect(address % alignment == 0, "attribute \(index) at offset \(address % alignment) from alignment")
                #expect(Int(entry.ulValueLen) == attributes[index].value.count)
                let bytes = Array(UnsafeRawBufferPointer(start: entry.pValue, count: Int(entry.ulValueLen)))
                #expect(bytes == attributes[index].value, "attribute \(index) holds its own value")
            }
        }
    }
}
