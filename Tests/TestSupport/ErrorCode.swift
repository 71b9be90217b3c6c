import DER
import SystemSupport

/// The code of the SCEPError `body` throws; nil when it returns (or throws something else).
/// Tests assert codes, not message text.
public func errorCode<T>(_ body: () throws -> T) -> SCEPError.Code? {
    do {
        _ = try body()
        return nil
    } catch {
        return (error as? SCEPError)?.code
    }
}
