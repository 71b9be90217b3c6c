import CSCEPShim
import DER
import SCEPClient

/// One output of an install: where it goes, what it holds, and its mode.
public struct CredentialFile {
    public var path: String
    public var contents: [UInt8]
    public var ownership: FileOwnership

    public init(path: String, contents: [UInt8], mode: mode_t) {
        self.init(path: path, contents: contents, ownership: FileOwnership(mode: mode))
    }

    public init(path: String, contents: [UInt8], ownership: FileOwnership) {
        self.path = path
        self.contents = contents
        self.ownership = ownership
    }
}

/// Installs key, certificate and chain as one set that survives any failure, kill or power cut.
///
/// 1. Each new file is written beside its target under a fixed temporary name, fsynced, and so is a
///    journal naming every (temporary, target) pair.
/// 2. The current targets get a second name `<target>.prev` (hard links: the previous set, for rollback),
///    each linked as `.<target>.prev.scep-new` first and renamed over the old `.prev`.
/// 3. The journal is renamed into place: the commit point.
/// 4. The temporaries are renamed over the targets, the directories fsynced, the journal removed.
///
/// A crash before step 3 leaves the old set in place (stray temporaries are removed next time); a crash
/// after it is rolled forward by `recover()`, so the next run always finds one complete set, never a new
/// key without its certificate.
public struct CredentialStore {
    /// The journal lives beside the certificate, the one file every set has.
    public let journalPath: String
    let lockPath: String

    public init(certificatePath: String) {
        let directory = FileSystem.directory(of: certificatePath)
        let base = FileSystem.baseName(of: certificatePath)
        journalPath = directory + "/." + base + ".scep-install"
        lockPath = directory + "/." + base + ".scep-lock"
    }

    static func temporaryPath(for target: String) -> String {
        FileSystem.directory(of: target) + "/." + FileSystem.baseName(of: target) + ".scep-new"
    }

    public static func previousPath(for target: String) -> String { target + ".prev" }

    /// Holds an exclusive lock on the set while `body` runs, so two agents never install at once.
    public func withLock<T>(_ body: () throws(SCEPError) -> T) throws(SCEPError) -> T {
        let fd = try FileSystem.openTrusted(lockPath, O_RDWR | O_CREAT, 0o600, what: "install lock")
        defer { _ = close(fd) }
        if CSCEPShim_flock(fd, LOCK_EX | LOCK_NB) != 0 {
            throw SCEPError(.fileIO, "another scep-agent is installing " + lockPath + "; try again when it has finished", detail: CSCEPShim_errno())
        }
        return try body()
    }

    /// Finishes an install that a crash interrupted after its commit point, and removes temporaries
    /// of one that was interrupted before it. Returns true when it rolled a set forward.
    @discardableResult
    public func recover(targets: [String]) throws(SCEPError) -> Bool {
        // The journal is checked before anything is touched: a refused one leaves the directory as it is.
        let pairs = FileSystem.exists(journalPath) ? try journalPairs(targets: targets) : nil
        for target in targets { try FileSystem.remove(Self.temporaryPath(for: Self.previousPath(for: target))) }
        guard let pairs else {
            for target in targets { try FileSystem.remove(Self.temporaryPath(for: target)) }
            try FileSystem.remove(journalPath + ".new")
            return false
        }
        var directories: [String] = []
        for (temporary, target) in pairs {
            if FileSystem.exists(temporary) {
                try FileSystem.rename(temporary, target)
                FaultInjection.point("install.renamed." + FileSystem.baseName(of: target))
            }
            let directory = FileSystem.directory(of: target)
            if !directories.contains(directory) { directories.append(directory) }
        }
        for directory in directories { try FileSystem.syncDirectory(directory) }
        FaultInjection.point("install.synced")
        try FileSystem.remove(journalPath)
        try FileSystem.syncDirectory(FileSystem.directory(of: journalPath))
        return true
    }

    /// The journal's (temporary, target) pairs, accepted only from a journal of ours (see
    /// `FileSystem.openTrusted`) and only when each pair is one of this set's: a target in `targets`
    /// with the temporary name `temporaryPath(for:)` gives it. Anything else names files that are not
    /// ours to rename. A temporary to roll forward must be a regular file, never a symbolic link.
    func journalPairs(targets: [String]) throws(SCEPError) -> [(temporary: String, target: String)] {
        let journal = try FileSystem.readTrusted(journalPath, limit: 64 * 1024, what: "install journal")
        var pairs: [(temporary: String, target: String)] = []
        for line in journal.split(separator: UInt8(ascii: "\n")) {
            guard let tab = line.firstIndex(of: UInt8(ascii: "\t")) else {
                throw SCEPError(.fileFormat, "install journal " + journalPath + " is damaged; remove it after checking the files it names")
            }
            let temporary = String(decoding: line[line.startIndex..<tab], as: UTF8.self)
            let target = String(decoding: line[(tab + 1)...], as: UTF8.self)
            guard targets.contains(target), temporary == Self.temporaryPath(for: target) else {
                throw SCEPError(.fileIO, "refusing install journal " + journalPath + ": it names a rename that is not one of this set's (" + targets.joined(separator: ", ") + "); nothing was renamed. Check who wrote it, then remove it")
            }
            if let type = FileSystem.type(of: temporary), type != mode_t(S_IFREG) {
                throw FileSystem.untrusted("install temporary", temporary, "it is not a regular file")
            }
            pairs.append((temporary, target))
        }
        return pairs
    }

    /// `recover` under the set's lock, so it never races another agent's install. The lock (and its
    /// file) is taken only when something is left to recover: a run that fails before it installs
    /// leaves the directory as it found it.
    @discardableResult
    public func recoverLocked(targets: [String]) throws(SCEPError) -> Bool {
        var leftovers = [journalPath, journalPath + ".new"]
        for target in targets { leftovers += [Self.temporaryPath(for: target), Self.temporaryPath(for: Self.previousPath(for: target))] }
        guard leftovers.contains(where: { FileSystem.exists($0) }) else { return false }
        return try withLock { () throws(SCEPError) -> Bool in try recover(targets: targets) }
    }

    /// Installs `files` as one set (see the type's documentation).
    public func install(_ files: [CredentialFile]) throws(SCEPError) {
        try recover(targets: files.map { $0.path })
        var written: [String] = []
        do throws(SCEPError) {
            for file in files {
                let temporary = Self.temporaryPath(for: file.path)
                try FileSystem.createFile(temporary, file.contents, mode: file.ownership.mode, owner: file.ownership.owner, group: file.ownership.group)
                written.append(temporary)
                FaultInjection.point("install.written." + String(written.count))
            }
            var journal: [UInt8] = []
            for file in files { journal += Array((Self.temporaryPath(for: file.path) + "\t" + file.path + "\n").utf8) }
            try FileSystem.remove(journalPath + ".new")
            try FileSystem.createFile(journalPath + ".new", journal, mode: 0o600)
            FaultInjection.point("install.journal-written")
            // The current set gets its .prev names only now that everything that needs space is written: a full
            // disk fails above and leaves the old .prev files (the rollback set) as they were.
            // Linked under a temporary name and renamed over the old .prev, so a failing link(2) never
            // loses the old .prev. rename(2) of two links to one file does nothing (a set whose install
            // crashed after this step): the temporary is then removed.
            for file in files where FileSystem.exists(file.path) {
                let previous = Self.previousPath(for: file.path)
                let staged = Self.temporaryPath(for: previous)
                try FileSystem.remove(staged)
                try FileSystem.link(file.path, staged)
                FaultInjection.point("install.previous-linked." + FileSystem.baseName(of: file.path))
                try FileSystem.rename(staged, previous)
                try FileSystem.remove(staged)
                FaultInjection.point("install.previous." + FileSystem.baseName(of: file.path))
            }
            try FileSystem.rename(journalPath + ".new", journalPath)
            try FileSystem.syncDirectory(FileSystem.directory(of: journalPath))
            FaultInjection.point("install.committed")
        } catch {
            // Before the commit point: the old set is untouched; drop what we wrote.
            for temporary in written { try? FileSystem.remove(temporary) }
            for file in files { try? FileSystem.remove(Self.temporaryPath(for: Self.previousPath(for: file.path))) }
            try? FileSystem.remove(journalPath + ".new")
            throw error
        }
        try recover(targets: files.map { $0.path })
    }
}
