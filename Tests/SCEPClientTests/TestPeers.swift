// Real peers for the client tests, on 127.0.0.1 and ::1 only: the Python test server (HTTP on both
// loopbacks plus a CONNECT/forward proxy) and Debian's nginx with a certificate made by openssl.
import Foundation
import Testing

enum Peers {
    static let serversDirectory = URL_(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Servers")
    static let script = serversDirectory.appendingPathComponent("http_test_server.py").path

    /// Runs a command to completion; fails the test on a non-zero exit.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], in directory: String? = nil) throws -> String {
        let process = Process()
        process.executableURL = URL_(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL_(fileURLWithPath: directory) }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw PeerError("\(executable) \(arguments.joined(separator: " ")) failed: \(text)")
        }
        return text
    }

    /// SIGTERM, then SIGKILL after 5 s, then reap.
    static func stop(_ process: Process) {
        if process.isRunning { process.terminate() }
        let end = Date().addingTimeInterval(5)
        while process.isRunning && Date() < end { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    static func python() -> String {
        for candidate in ["/usr/bin/python3", "/usr/local/bin/python3"] where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        return "/usr/bin/env"
    }

    static func pythonArguments(_ args: [String]) -> [String] {
        python() == "/usr/bin/env" ? ["python3"] + args : args
    }

    static func freePort() throws -> Int {
        let text = try run(python(), pythonArguments([script, "freeport"]))
        guard let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { throw PeerError("no free port: \(text)") }
        return port
    }

    /// Waits until something accepts TCP connections on 127.0.0.1:port.
    static func waitForPort(_ port: Int, seconds: Double = 10) throws {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            close(fd)
            if rc == 0 { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw PeerError("nothing listens on 127.0.0.1:\(port) after \(seconds) s")
    }
}

/// Foundation's URL, named apart from SCEPClient.URL.
typealias URL_ = Foundation.URL

struct PeerError: Error, CustomStringConvertible {
    var description: String
    init(_ text: String) { description = text }
}

/// The Python test server; stops (stdin closed, then SIGTERM) when released.
final class TestHTTPServer {
    let process = Process()
    let stdin = Pipe()
    let v4Port: Int
    let v6Port: Int
    let proxyPort: Int
    let proxyLog: String

    init() throws {
        proxyLog = NSTemporaryDirectory() + "scep-proxy-\(UUID().uuidString).log"
        _ = FileManager.default.createFile(atPath: proxyLog, contents: nil)
        process.executableURL = URL_(fileURLWithPath: Peers.python())
        process.arguments = Peers.pythonArguments([Peers.script, "serve", proxyLog])
        let out = Pipe()
        process.standardOutput = out
        process.standardInput = stdin
        try process.run()
        var line = Data()
        let handle = out.fileHandleForReading
        while true {
            let byte = handle.readData(ofLength: 1)
            if byte.isEmpty || byte == Data([10]) { break }
            line.append(byte)
        }
        let words = String(decoding: line, as: UTF8.self).split(separator: " ")
        guard words.count == 4, words[0] == "READY", let a = Int(words[1]), let b = Int(words[2]), let c = Int(words[3]) else {
            process.terminate()
            throw PeerError("test server did not start: '\(String(decoding: line, as: UTF8.self))'")
        }
        v4Port = a; v6Port = b; proxyPort = c
    }

    var proxyLogLines: [String] {
        ((try? String(contentsOfFile: proxyLog, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    deinit {
        try? stdin.fileHandleForWriting.close()
        Peers.stop(process)
        try? FileManager.default.removeItem(atPath: proxyLog)
    }
}

/// nginx with its own prefix and config on 127.0.0.1, TLS 1.2, a test CA and server certificate
/// (SAN IP:127.0.0.1, DNS:localhost); a wrong CA for negative tests.
final class TestNginx {
    let process = Process()
    let directory: String
    let port: Int
    var caFile: String { directory + "/ca.pem" }
    var wrongCAFile: String { directory + "/wrong-ca.pem" }

    /// - Parameter upstreamPort: the Python server's IPv4 port, proxied under /echo.
    init(upstreamPort: Int) throws {
        directory = NSTemporaryDirectory() + "scep-nginx-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory + "/www", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory + "/logs", withIntermediateDirectories: true)
        try "static file over TLS\n".write(toFile: directory + "/www/hello.txt", atomically: true, encoding: .utf8)
        let openssl = "/usr/bin/openssl"
        for name in ["ca", "wrong-ca"] {
            try Peers.run(openssl, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "\(name).key",
                                   "-out", "\(name).pem", "-days", "2", "-subj", "/CN=scep-agent test \(name)"], in: directory)
        }
        try Peers.run(openssl, ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "server.key",
                               "-out", "server.csr", "-subj", "/CN=localhost"], in: directory)
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n"
            .write(toFile: directory + "/ext.cnf", atomically: true, encoding: .utf8)
        try Peers.run(openssl, ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                               "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf"], in: directory)
        port = try Peers.freePort()
        let config = """
        daemon off;
        worker_processes 1;
        pid \(directory)/nginx.pid;
        error_log \(directory)/logs/error.log;
        events { worker_connections 64; }
        http {
            access_log off;
            client_body_temp_path \(directory)/tmp-body;
            proxy_temp_path \(directory)/tmp-proxy;
            fastcgi_temp_path \(directory)/tmp-fastcgi;
            uwsgi_temp_path \(directory)/tmp-uwsgi;
            scgi_temp_path \(directory)/tmp-scgi;
            server {
                listen 127.0.0.1:\(port) ssl;
                listen [::1]:\(port) ssl;
                server_name localhost;
                ssl_certificate \(directory)/server.pem;
                ssl_certificate_key \(directory)/server.key;
                ssl_protocols TLSv1.2;
                location = /hello.txt { root \(directory)/www; }
                location = /downgrade { return 302 http://127.0.0.1:\(upstreamPort)/echo/downgraded; }
                location /echo { proxy_pass http://127.0.0.1:\(upstreamPort); }
            }
        }
        """
        try config.write(toFile: directory + "/nginx.conf", atomically: true, encoding: .utf8)
        process.executableURL = URL_(fileURLWithPath: "/usr/sbin/nginx")
        process.arguments = ["-p", directory, "-c", directory + "/nginx.conf", "-e", directory + "/logs/error.log"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        do {
            try Peers.waitForPort(port)
        } catch {
            let log = (try? String(contentsOfFile: directory + "/logs/error.log", encoding: .utf8)) ?? ""
            stop()
            throw PeerError("nginx did not start: \(log)")
        }
    }

    /// SIGTERM, then SIGKILL after 5 s: the test must never hang on a peer.
    func stop() {
        Peers.stop(process)
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
