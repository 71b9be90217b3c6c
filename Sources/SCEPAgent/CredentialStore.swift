import DER
import SystemSupport

/// One output of an install: where it goes, what it holds, and its mode.
public struct CredentialFile {
    public var path: String
    public var contents: [UInt8]
    public var ownership: FileOwnership

    public init(path: String, contents: [UInt8], mode: UInt32) {
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
///    journal naming every (temporary, target) pair and the temporary's owner.
/// 2. The current targets get a second name `<target>.prev` (hard links: the previous set, for rollback),
///    each linked as `.<target>.prev.scep-new` first and renamed over the old `.prev`; the targets'
///    directories are fsynced.
/// 3. The journal is renamed into place: the commit point.
/// 4. The temporaries are renamed over the targets, the directories fsynced, the journal removed. A
///    rename that keeps failing puts the previous set back (a new journal that names `.prev` copies),
///    so `install` never returns with a mixed set.
///
/// A crash before step 3 leaves the old set in place (stray temporaries are removed next time); a crash
/// after it is rolled forward by `recover()`, so the next run always finds one complete set, never a new
/// key without its certificate.
public struct CredentialStore {
    /// The journal lives beside the certificate, the one file every set has.
    public let journalPath: String
    let lockPath: String
    /// How often the renames after the commit point are tried before the previous set is put back.
    static let renameAttempts = 3
    /// The journal's first field. Fields end with NUL, which no path can hold (a TAB or a newline can).
    static let journalMagic = "scep-agent install journal 2"

    public init(certificatePath: String) {
        let directory = FileSystem.directory(of: certificatePath)
        let base = FileSystem.baseName(of: certificatePath)
        journalPath = directory + "/." + base + ".scep-install"
        lockPath = directory + "/." + base + ".scep-lock"
    }

    static func temporaryPath(for target: String) -> String {
        FileSystem.directory(of: target) + "/." + FileSystem.baseName(of: target) + ".scep-new"
    }

    /// Where a rollback stages the previous version of `target` (a link to its `.prev`).
    static func rollbackPath(for target: String) -> String {
        FileSystem.directory(of: target) + "/." + FileSystem.baseName(of: target) + ".scep-old"
    }

    public static func previousPath(for target: String) -> String { target + ".prev" }

    /// Holds an exclusive lock on the set while `body` runs, so two agents never install at once.
    public func withLock<T>(_ body: () throws(SCEPError) -> T) throws(SCEPError) -> T {
        let lock = try LockFile(exclusive: lockPath, what: "install lock") { errno in
            SCEPError(.fileIO, "another scep-agent is installing " + lockPath + "; try again when it has finished", detail: errno)
        }
        defer { lock.release() }
        return try body()
    }

    /// Every temporary name an install of `targets` may leave behind.
    static func temporaries(_ targets: [String]) -> [String] {
        targets.flatMap { [temporaryPath(for: $0), rollbackPath(for: $0), temporaryPath(for: previousPath(for: $0))] }
    }

    /// The distinct directories of `paths`.
    static func directories(_ paths: [String]) -> [String] {
        var directories: [String] = []
        for path in paths where !directories.contains(FileSystem.directory(of: path)) { directories.append(FileSystem.directory(of: path)) }
        return directories
    }

    /// Finishes an install that a crash interrupted after its commit point, and removes temporaries
    /// of one that was interrupted before it. Returns true when it rolled a set forward.
    @discardableResult
    public func recover(targets: [String]) throws(SCEPError) -> Bool {
        // The journal is checked before anything is touched: a refused one leaves the directory as it is.
        let pairs = FileSystem.exists(journalPath) ? try journalPairs(targets: targets) : nil
        guard let pairs else {
            for temporary in Self.temporaries(targets) { try FileSystem.remove(temporary) }
            try FileSystem.remove(journalPath + ".new")
            return false
        }
        for target in targets { try FileSystem.remove(Self.temporaryPath(for: Self.previousPath(for: target))) }
        for (temporary, target) in pairs where FileSystem.exists(temporary) {
            if FaultInjection.fails("install.rename." + FileSystem.baseName(of: temporary)) { throw FileSystem.failure("rename", temporary + " -> " + target) }
            try FileSystem.rename(temporary, target)
            FaultInjection.point("install.renamed." + FileSystem.baseName(of: target))
        }
        for directory in Self.directories(targets) { try FileSystem.syncDirectory(directory) }
        FaultInjection.point("install.synced")
        try FileSystem.remove(journalPath)
        // What a rollback left: the new files it did not install.
        for temporary in Self.temporaries(targets) { try FileSystem.remove(temporary) }
        try FileSystem.syncDirectory(FileSystem.directory(of: journalPath))
        return true
    }

    /// The journal's contents: its magic, then (temporary, target, owner uid) for each file.
    static func journal(_ entries: [(temporary: String, target: String, owner: UInt32)]) -> [UInt8] {
        var fields = [journalMagic]
        for entry in entries { fields += [entry.temporary, entry.target, String(entry.owner)] }
        var bytes: [UInt8] = []
        for field in fields { bytes += Array(field.utf8) + [0] }
        return bytes
    }

    /// The journal's (temporary, target) pairs, accepted only from a journal of ours (see
    /// `FileSystem.openTrusted`) and only when each pair is one of this set's: a target in `targets`
    /// with the temporary name `temporaryPath(for:)` (or, after a rollback, `rollbackPath(for:)`) gives
    /// it. Anything else names files that are not ours to rename. A temporary to roll forward must be a
    /// regular file, never a symbolic link, owned by the user the journal names for it or by us: in a
    /// directory others may write (sticky), someone else could otherwise plant a missing one.
    func journalPairs(targets: [String]) throws(SCEPError) -> [(temporary: String, target: String)] {
        let journal = try FileSystem.readTrusted(journalPath, limit: 64 * 1024, what: "install journal")
        var fields = journal.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        guard fields.count >= 5, fields.removeFirst() == Self.journalMagic, fields.removeLast().isEmpty, fields.count % 3 == 0 else {
            throw SCEPError(.fileFormat, "install journal " + journalPath + " is damaged (or from another version): the set it installs ("
                + targets.joined(separator: ", ") + ") may be half renamed. Check that key and certificate match (their .prev and .scep-new files hold "
                + "the previous and the new set), keep one whole set, then remove " + journalPath)
        }
        var pairs: [(temporary: String, target: String)] = []
        for index in stride(from: 0, to: fields.count, by: 3) {
            let (temporary, target) = (fields[index], fields[index + 1])
            guard targets.contains(target), temporary == Self.temporaryPath(for: target) || temporary == Self.rollbackPath(for: target),
                  let owner = ASCII.unsigned(fields[index + 2]).flatMap(UInt32.init(exactly:)) else {
                throw SCEPError(.fileIO, "refusing install journal " + journalPath + ": it names a rename that is not one of this set's (" + targets.joined(separator: ", ") + "); nothing was renamed. Check who wrote it, then remove it")
            }
            if let status = FileSystem.linkStatus(temporary) {
                if !status.isRegularFile { throw FileSystem.untrusted("install temporary", temporary, "it is not a regular file") }
                if status.owner != owner && status.owner != FileSystem.effectiveUserID {
                    throw FileSystem.untrusted("install temporary", temporary, "it is owned by uid " + String(status.owner) + ", not by uid " + String(owner) + " the install made it for")
                }
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
        let leftovers = [journalPath, journalPath + ".new"] + Self.temporaries(targets)
        guard leftovers.contains(where: { FileSystem.exists($0) }) else { return false }
        return try withLock { () throws(SCEPError) -> Bool in try recover(targets: targets) }
    }

    /// Installs `files` as one set (see the type's documentation).
    public func install(_ files: [CredentialFile]) throws(SCEPError) {
        let targets = files.map { $0.path }
        try recover(targets: targets)
        var written: [String] = []
        var entries: [(temporary: String, target: String, owner: UInt32)] = []
        // The files that had a version before: their .prev names it, for a rollback.
        var hadPrevious: [(temporary: String, target: String, owner: UInt32)] = []
        do throws(SCEPError) {
            for file in files {
                let temporary = Self.temporaryPath(for: file.path)
                try FileSystem.createFile(temporary, file.contents, mode: file.ownership.mode, owner: file.ownership.owner, group: file.ownership.group)
                written.append(temporary)
                entries.append((temporary, file.path, file.ownership.owner ?? FileSystem.effectiveUserID))
                FaultInjection.point("install.written." + String(written.count))
            }
            try FileSystem.remove(journalPath + ".new")
            try FileSystem.createFile(journalPath + ".new", Self.journal(entries), mode: 0o600)
            FaultInjection.point("install.journal-written")
            // The current set gets its .prev names only now that everything that needs space is written: a full
            // disk fails above and leaves the old .prev files (the rollback set) as they were.
            // Linked under a temporary name and renamed over the old .prev, so a failing link(2) never
            // loses the old .prev. rename(2) of two links to one file does nothing (a set whose install
            // crashed after this step): the temporary is then removed.
            for (index, file) in files.enumerated() where FileSystem.exists(file.path) {
                let previous = Self.previousPath(for: file.path)
                let staged = Self.temporaryPath(for: previous)
                try FileSystem.remove(staged)
                try FileSystem.link(file.path, staged)
                FaultInjection.point("install.previous-linked." + FileSystem.baseName(of: file.path))
                try FileSystem.rename(staged, previous)
                try FileSystem.remove(staged)
                hadPrevious.append(entries[index])
                FaultInjection.point("install.previous." + FileSystem.baseName(of: file.path))
            }
            // POSIX makes a file's name durable only with its directory: the temporaries and .prev names
            // are on disk before the journal that relies on them.
            for directory in Self.directories(targets) { try FileSystem.syncDirectory(directory) }
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
        try finishCommitted(files, previous: hadPrevious)
    }

    /// The renames after the commit point, tried `renameAttempts` times. When they keep failing, the
    /// previous set (`.prev`, the targets' versions before this install) is put back the same way: a
    /// journal naming links to it replaces the committed one (a crash from here on rolls *that* set
    /// forward), then the renames run. Only a set that had a previous version of every file can go back;
    /// otherwise, or when putting it back fails too, the committed journal stays for the next run.
    func finishCommitted(_ files: [CredentialFile], previous: [(temporary: String, target: String, owner: UInt32)]) throws(SCEPError) {
        let targets = files.map { $0.path }
        var failure = SCEPError(.fileIO, "")
        for _ in 0..<Self.renameAttempts {
            do throws(SCEPError) {
                try recover(targets: targets)
                return
            } catch {
                failure = error
            }
        }
        guard previous.count == files.count else {
            throw SCEPError(.fileIO, failure.reason + "; the new set is committed in " + journalPath + " and the next run finishes installing it", detail: failure.detail)
        }
        do throws(SCEPError) {
            var entries: [(temporary: String, target: String, owner: UInt32)] = []
            for entry in previous {
                let staged = Self.rollbackPath(for: entry.target)
                try FileSystem.remove(staged)
                try FileSystem.link(Self.previousPath(for: entry.target), staged)
                entries.append((staged, entry.target, entry.owner))
            }
            try FileSystem.remove(journalPath + ".new")
            try FileSystem.createFile(journalPath + ".new", Self.journal(entries), mode: 0o600)
            for directory in Self.directories(targets) { try FileSystem.syncDirectory(directory) }
            try FileSystem.rename(journalPath + ".new", journalPath)
            try FileSystem.syncDirectory(FileSystem.directory(of: journalPath))
            try recover(targets: targets)
        } catch {
            throw SCEPError(.fileIO, failure.reason + "; putting the previous set back failed too (" + error.reason + "): " + journalPath
                + " names the set the next run installs", detail: failure.detail)
        }
        throw SCEPError(.fileIO, failure.reason + "; the previous set was put back, whole (nothing new is installed)", detail: failure.detail)
    }
}
