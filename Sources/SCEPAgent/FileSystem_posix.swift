import CSCEPShim
import DER
import SCEPClient

/// Thin wrappers over the file syscalls: EINTR retried, errno and the call's name in every error.
public enum FileSystem {
    /// Mode of a private key from the moment it exists.
    public static let privateKeyMode: mode_t = 0o600
    /// Mode of certificates and chains.
    public static let publicFileMode: mode_t = 0o644
    /// Largest file we read (keys, certificates, challenges, configs are all far smaller).
    public static let maxReadBytes = 4 << 20

    static func failure(_ call: String, _ path: String, _ hint: String = "") -> SCEPError {
        let code = CSCEPShim_errno()
        let text = String(cString: strerror(code))
        return SCEPError(.fileIO, call + " " + path + ": " + text + (hint.isEmpty ? "" : "; " + hint), detail: code)
    }

    /// open(2) retrying EINTR.
    static func open(_ path: String, _ flags: Int32, _ mode: mode_t = 0) throws(SCEPError) -> Int32 {
        while true {
            let fd = CSCEPShim_open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if CSCEPShim_errno() != EINTR { throw failure("open", path) }
        }
    }

    /// Reads a whole file (read(2) until EOF), refusing files over `limit` bytes.
    public static func read(_ path: String, limit: Int = maxReadBytes) throws(SCEPError) -> [UInt8] {
        let fd = try Self.open(path, O_RDONLY)
        defer { _ = close(fd) }
        return try readAll(fd, path: path, limit: limit)
    }

    /// Reads a file only when it is ours (see `openTrusted`): journals and state steer what the agent does.
    public static func readTrusted(_ path: String, limit: Int, what: String) throws(SCEPError) -> [UInt8] {
        let fd = try openTrusted(path, O_RDONLY, what: what)
        defer { _ = close(fd) }
        return try readAll(fd, path: path, limit: limit)
    }

    /// Opens a file (or, with `O_DIRECTORY` in `flags`, a directory) that steers the agent (install
    /// journal, lock, state) and refuses it unless the running user (euid) owns it and neither group
    /// nor others can write it: anyone else who can write it could make the agent rename, skip or
    /// trust what they choose. `O_NOFOLLOW` refuses a symbolic link in its last component; the
    /// checks are fstat(2) of the opened descriptor, so the file checked is the file used.
    /// - Parameter what: what the file is, for the message ("install journal").
    /// - Throws: `fileIO` naming the path, what is wrong with it and what to do.
    public static func openTrusted(_ path: String, _ flags: Int32, _ mode: mode_t = 0, what: String) throws(SCEPError) -> Int32 {
        let fd: Int32
        do throws(SCEPError) {
            // O_NONBLOCK: a FIFO planted under the name must be refused by the type check below, not waited on.
            fd = try open(path, flags | O_NOFOLLOW | O_NONBLOCK, mode)
        } catch {
            // O_NOFOLLOW fails with ELOOP, or with ENOTDIR when O_DIRECTORY meets the link first.
            guard error.detail == ELOOP || (error.detail == ENOTDIR && type(of: path) == mode_t(S_IFLNK)) else { throw error }
            throw untrusted(what, path, "it is a symbolic link")
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let failed = failure("fstat", path)
            _ = close(fd)
            throw failed
        }
        let wantsDirectory = flags & O_DIRECTORY != 0
        var problem: String? = nil
        if info.st_mode & mode_t(S_IFMT) != mode_t(wantsDirectory ? S_IFDIR : S_IFREG) {
            problem = wantsDirectory ? "it is not a directory" : "it is not a regular file"
        } else if info.st_uid != geteuid() {
            problem = "it is owned by uid " + String(info.st_uid) + ", not by uid " + String(geteuid()) + " that runs scep-agent"
        } else if info.st_mode & 0o022 != 0 {
            problem = "its mode " + String(info.st_mode & 0o7777, radix: 8) + " lets group or others write it"
        }
        if let problem {
            _ = close(fd)
            throw untrusted(what, path, problem)
        }
        return fd
    }

    static func untrusted(_ what: String, _ path: String, _ problem: String) -> SCEPError {
        SCEPError(.fileIO, "refusing " + what + " " + path + ": " + problem + " (scep-agent trusts only its own files that nobody else can write)"
            + "; check who made it and remove it or fix its owner and mode (chown, chmod go-w), and keep such files in a directory only this user can write")
    }

    /// A directory for files that steer the agent (the state directory): created 0700 when missing,
    /// refused (see `openTrusted`) when it is a symbolic link, another user's, or writable by others.
    public static func requireTrustedDirectory(_ path: String, what: String) throws(SCEPError) {
        try makeDirectory(path, mode: 0o700)
        _ = close(try openTrusted(path, O_RDONLY | O_DIRECTORY, what: what))
    }

    /// read(2) from `fd` until EOF, refusing more than `limit` bytes.
    static func readAll(_ fd: Int32, path: String, limit: Int) throws(SCEPError) -> [UInt8] {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = buffer.withUnsafeMutableBytes { CSCEPShim.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if CSCEPShim_errno() == EINTR { continue }
                throw failure("read", path)
            }
            if count == 0 { return out }
            out += buffer[0..<count]
            guard out.count <= limit else {
                throw SCEPError(.fileFormat, path + " is larger than " + String(limit) + " bytes: not a key, certificate or config")
            }
        }
    }

    /// Writes all of `bytes` to `fd`, retrying EINTR and short writes.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(SCEPError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if CSCEPShim_errno() == EINTR { continue }
                throw failure("write", path)
            }
            offset += written
        }
    }

    /// Creates `path` exclusively with `mode` (O_EXCL: never follows or reuses an existing file),
    /// writes `bytes`, fsyncs and closes. The mode is set at creation, so a key is never readable by others.
    public static func createFile(_ path: String, _ bytes: [UInt8], mode: mode_t, owner: uid_t? = nil, group: gid_t? = nil) throws(SCEPError) {
        let fd = try open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode)
        do throws(SCEPError) {
            // Ownership before content: a key handed to another user is never readable by the wrong one.
            if owner != nil || group != nil, fchown(fd, owner ?? uid_t.max, group ?? gid_t.max) != 0 {
                throw failure("fchown", path, "the agent needs root (or CAP_CHOWN) to set key/cert owners")
            }
            // The umask may have masked bits off; fchmod gives exactly the mode asked for.
            if fchmod(fd, mode) != 0 { throw failure("fchmod", path) }
            try writeAll(fd, bytes, path: path)
            if fsync(fd) != 0 { throw failure("fsync", path) }
        } catch {
            _ = close(fd)
            _ = unlink(path)
            throw error
        }
        if close(fd) != 0 {
            _ = unlink(path)
            throw failure("close", path)
        }
    }

    /// Replaces one small file atomically: write `path.tmp`, fsync, rename over `path`, fsync the directory.
    /// With `faultPoint` P, the crash tests can stop it at `P-written` and `P-renamed`.
    public static func replaceAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t, faultPoint: String? = nil) throws(SCEPError) {
        let temporary = path + ".tmp"
        try remove(temporary)
        try createFile(temporary, bytes, mode: mode)
        if let faultPoint { FaultInjection.point(faultPoint + "-written") }
        try rename(temporary, path)
        if let faultPoint { FaultInjection.point(faultPoint + "-renamed") }
        try syncDirectory(directory(of: path))
    }

    /// mkdir(2) of one directory with `mode`; an existing directory is fine.
    public static func makeDirectory(_ path: String, mode: mode_t) throws(SCEPError) {
        if mkdir(path, mode) != 0 && CSCEPShim_errno() != EEXIST { throw failure("mkdir", path) }
    }

    /// rename(2): atomic replacement of `to` by `from` within one file system.
    public static func rename(_ from: String, _ to: String) throws(SCEPError) {
        if CSCEPShim.rename(from, to) != 0 { throw failure("rename", from + " -> " + to) }
    }

    /// link(2): a second name for the same file (keeps the previous set for rollback without copying).
    public static func link(_ from: String, _ to: String) throws(SCEPError) {
        if CSCEPShim.link(from, to) != 0 { throw failure("link", from + " -> " + to) }
    }

    /// unlink(2); a missing file is not an error.
    public static func remove(_ path: String) throws(SCEPError) {
        if unlink(path) != 0 && CSCEPShim_errno() != ENOENT { throw failure("unlink", path) }
    }

    /// lstat(2): the type bits (`S_IFREG`, `S_IFLNK`, …) of `path` itself, never of what a symbolic
    /// link names; nil when nothing is there.
    static func type(of path: String) -> mode_t? {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_mode & mode_t(S_IFMT) : nil
    }

    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// fsync of a directory, so renames and creations in it survive a power cut.
    public static func syncDirectory(_ path: String) throws(SCEPError) {
        let fd = try open(path, O_RDONLY | O_DIRECTORY)
        defer { _ = close(fd) }
        if fsync(fd) != 0 { throw failure("fsync", path) }
    }

    /// The directory part of a path ("." when there is none).
    public static func directory(of path: String) -> String {
        let bytes = Array(path.utf8)
        guard let slash = bytes.lastIndex(of: UInt8(ascii: "/")) else { return "." }
        if slash == 0 { return "/" }
        return String(decoding: bytes[..<slash], as: UTF8.self)
    }

    /// The last component of a path.
    public static func baseName(of path: String) -> String {
        let bytes = Array(path.utf8)
        guard let slash = bytes.lastIndex(of: UInt8(ascii: "/")) else { return path }
        return String(decoding: bytes[(slash + 1)...], as: UTF8.self)
    }

    /// Checks that a directory exists and is writable before any network work starts.
    public static func requireWritableDirectory(for path: String) throws(SCEPError) {
        let directory = directory(of: path)
        if access(directory, W_OK) != 0 {
            throw failure("access", directory, "the directory for " + path + " must exist and be writable")
        }
    }
}
