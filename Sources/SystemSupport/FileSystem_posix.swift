import CSCEPShim

/// Thin wrappers over the file syscalls: EINTR retried, errno and the call's name in every error.
/// Modes are permission bits (`0o600`), owners and groups numeric ids, all as plain `UInt32`: the C
/// types stay in here.
public enum FileSystem {
    /// Mode of a private key from the moment it exists.
    public static let privateKeyMode: UInt32 = 0o600
    /// Mode of certificates and chains.
    public static let publicFileMode: UInt32 = 0o644
    /// Largest file we read (keys, certificates, challenges, configs are all far smaller).
    public static let maxReadBytes = 4 << 20

    /// A `fileIO` error for a failed call on `path`, with errno (read now) and its text.
    public static func failure(_ call: String, _ path: String, _ hint: String = "") -> SCEPError {
        failure(call, path, errno: CSCEPShim_errno(), hint)
    }

    static func failure(_ call: String, _ path: String, errno code: Int32, _ hint: String = "") -> SCEPError {
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
    static func openTrusted(_ path: String, _ flags: Int32, _ mode: mode_t = 0, what: String) throws(SCEPError) -> Int32 {
        let fd: Int32
        do throws(SCEPError) {
            // O_NONBLOCK: a FIFO planted under the name must be refused by the type check below, not waited on.
            fd = try open(path, flags | O_NOFOLLOW | O_NONBLOCK, mode)
        } catch {
            // O_NOFOLLOW fails with ELOOP, or with ENOTDIR when O_DIRECTORY meets the link first.
            guard error.detail == ELOOP || (error.detail == ENOTDIR && linkStatus(path)?.isSymbolicLink == true) else { throw error }
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

    /// A `fileIO` error refusing `path` (what it is for, and its `problem`), with what to do about it.
    public static func untrusted(_ what: String, _ path: String, _ problem: String) -> SCEPError {
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

    /// Writes all of `bytes` to `fd` (`Syscall.writeAll`), naming `path` in the error.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(SCEPError) {
        do throws(SystemCallError) {
            try Syscall.writeAll(fd, bytes)
        } catch {
            throw failure("write", path, errno: error.errno)
        }
    }

    /// Creates `path` exclusively with `mode` (O_EXCL: never follows or reuses an existing file),
    /// writes `bytes`, fsyncs and closes. The mode is set at creation, so a key is never readable by others.
    /// - Parameters:
    ///   - mode: the permission bits (`privateKeyMode`).
    ///   - owner: the user id to give it (fchown), nil to keep ours.
    ///   - group: the group id to give it, nil to keep ours.
    public static func createFile(_ path: String, _ bytes: [UInt8], mode: UInt32, owner: UInt32? = nil, group: UInt32? = nil) throws(SCEPError) {
        let fd = try open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode_t(mode))
        do throws(SCEPError) {
            // Ownership before content: a key handed to another user is never readable by the wrong one.
            if owner != nil || group != nil, fchown(fd, owner ?? uid_t.max, group ?? gid_t.max) != 0 {
                throw failure("fchown", path, "the agent needs root (or CAP_CHOWN) to set key/cert owners")
            }
            // The umask may have masked bits off; fchmod gives exactly the mode asked for.
            if fchmod(fd, mode_t(mode)) != 0 { throw failure("fchmod", path) }
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
    public static func replaceAtomically(_ path: String, _ bytes: [UInt8], mode: UInt32, faultPoint: String? = nil) throws(SCEPError) {
        let temporary = path + ".tmp"
        try remove(temporary)
        try createFile(temporary, bytes, mode: mode)
        if let faultPoint { FaultInjection.point(faultPoint + "-written") }
        try rename(temporary, path)
        if let faultPoint { FaultInjection.point(faultPoint + "-renamed") }
        try syncDirectory(directory(of: path))
    }

    /// mkdir(2) of one directory with `mode`; an existing directory is fine.
    public static func makeDirectory(_ path: String, mode: UInt32) throws(SCEPError) {
        if mkdir(path, mode_t(mode)) != 0 && CSCEPShim_errno() != EEXIST { throw failure("mkdir", path) }
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

    /// `remove`, then an fsync of the directory, so the removal survives a power cut.
    public static func removeDurably(_ path: String) throws(SCEPError) {
        try remove(path)
        try syncDirectory(directory(of: path))
    }

    public static func exists(_ path: String) -> Bool { linkStatus(path) != nil }

    /// What lstat(2) says of a path itself (a symbolic link is not followed).
    public struct LinkStatus {
        public var isRegularFile: Bool
        public var isSymbolicLink: Bool
        /// The owner's user id.
        public var owner: UInt32
    }

    /// lstat(2) of `path`; nil when nothing is there (or it cannot be examined).
    public static func linkStatus(_ path: String) -> LinkStatus? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        let type = info.st_mode & mode_t(S_IFMT)
        return LinkStatus(isRegularFile: type == mode_t(S_IFREG), isSymbolicLink: type == mode_t(S_IFLNK), owner: info.st_uid)
    }

    /// geteuid(2): the user the agent runs as, who owns the files it makes.
    public static var effectiveUserID: UInt32 { geteuid() }

    /// getpwnam(3): the id of the user named `name`, nil when there is none.
    public static func userID(named name: String) -> UInt32? {
        getpwnam(name)?.pointee.pw_uid
    }

    /// getgrnam(3): the id of the group named `name`, nil when there is none.
    public static func groupID(named name: String) -> UInt32? {
        getgrnam(name)?.pointee.gr_gid
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

/// A lock file held with flock(2) while the object lives (or until `release`): the install lock of a
/// credential set, the daemon's lock. The lock dies with its process, so a crash never leaves it held.
/// The file steers the agent, so it is opened as `FileSystem.openTrusted` opens (ours, nobody else's).
public final class LockFile {
    private var fd: Int32
    public let path: String

    /// Opens `path` (created 0600 when missing) and takes its exclusive lock without waiting.
    /// - Parameters:
    ///   - what: what the file is, for messages ("install lock").
    ///   - whenHeld: the error to throw when the lock cannot be taken (another process holds it),
    ///     given flock's errno.
    /// - Throws: `fileIO` for a file that is not ours, or `whenHeld`'s error.
    public init(exclusive path: String, what: String, whenHeld: (Int32) -> SCEPError) throws(SCEPError) {
        self.path = path
        fd = try FileSystem.openTrusted(path, O_RDWR | O_CREAT, 0o600, what: what)
        if CSCEPShim_flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let error = whenHeld(CSCEPShim_errno())
            release()
            throw error
        }
    }

    deinit { release() }

    /// Drops the lock (closes the file); later calls do nothing.
    public func release() {
        if fd >= 0 { _ = close(fd) }
        fd = -1
    }

    /// Makes `bytes` the lock file's whole contents (ftruncate, then write).
    public func replaceContents(_ bytes: [UInt8]) throws(SCEPError) {
        guard ftruncate(fd, 0) == 0 else { throw FileSystem.failure("ftruncate", path) }
        try FileSystem.writeAll(fd, bytes, path: path)
    }

    /// The contents of the lock file at `path` while another process holds its lock, or nil when
    /// nobody does: a probe with a shared lock that does not wait (and is dropped at once).
    /// - Throws: `fileIO` for a file that is not ours, larger than `limit`, or that flock refuses.
    public static func holderContents(_ path: String, limit: Int, what: String) throws(SCEPError) -> [UInt8]? {
        let fd = try FileSystem.openTrusted(path, O_RDONLY, what: what)
        defer { _ = close(fd) }
        if CSCEPShim_flock(fd, LOCK_SH | LOCK_NB) == 0 { return nil }
        guard CSCEPShim_errno() == EWOULDBLOCK else { throw FileSystem.failure("flock", path) }
        return try FileSystem.readAll(fd, path: path, limit: limit)
    }
}
