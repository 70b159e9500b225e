import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The Debian 12 tree of Tests/Support/boot-tree, booted by systemd-nspawn with a network of its
/// own (`--private-network`: only its loopback). The cached tree stays as it is: the container
/// writes to an overlay in a temp folder, which goes when the container does. Commands run
/// inside through `nsenter` into the container's namespaces, as root, with a clean environment.
final class BootedContainer {
    let directory: URL
    /// Where the container's root is seen from the host.
    let root: String
    private var nspawn: ChildProcess?
    private var leader: pid_t = 0
    private let name = "askd-boot-\(UUID().uuidString.prefix(8).lowercased())"
    private var overlayMounted = false
    private var boots = 0

    /// The cached tree, or the test cancelled with why it cannot run on this machine.
    static func tree() throws -> String {
        let result = try Stack.run(Stack.repository.appendingPathComponent("Tests/Support/boot-tree").path, ["path"], timeout: 30)
        let said = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        if result.status == 3 {
            print("PackageBoot: skipped: \(said)")
            try Test.cancel("the package boot test cannot run here: \(said)")
        }
        try #require(result.status == 0, "boot-tree path: \(result.stderr)")
        return said
    }

    init(tree: String) throws {
        directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent(name)
        root = directory.appendingPathComponent("root").path
        for folder in ["upper", "work", "root"] {
            try FileManager.default.createDirectory(
                at: directory.appendingPathComponent(folder), withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        }
        let options = "lowerdir=\(tree),upperdir=\(directory.path)/upper,workdir=\(directory.path)/work"
        if options.withCString({ mount("overlay", root, "overlay", 0, $0) }) == 0 {
            overlayMounted = true
        } else {
            // No overlayfs here: a copy of the tree (about 180 MB) does as well, more slowly.
            let copy = try Stack.run("/bin/cp", ["-a", tree + "/.", root], timeout: 120)
            try #require(copy.status == 0, "mount overlay: \(String(cString: strerror(errno))); cp -a: \(copy.stderr)")
        }
    }

    deinit {
        if leader > 0 { kill(leader, SIGKILL) }
        if nspawn?.waitForExit(within: 10) == nil { nspawn?.signal(SIGKILL) }
        if overlayMounted && umount2(root, 0) != 0 { umount2(root, Int32(MNT_DETACH)) }
        try? FileManager.default.removeItem(at: directory)
    }

    var consoleLog: String { (try? String(contentsOfFile: directory.appendingPathComponent("console.log").path, encoding: .utf8)) ?? "" }

    /// Boots the container and waits until systemd has started every unit; what
    /// `systemctl is-system-running` then says ("running" if no unit failed).
    @discardableResult
    func boot() throws -> String {
        boots += 1
        nspawn = try Stack.launch("/usr/bin/systemd-nspawn", [
            "--quiet", "--register=no", "--keep-unit", "--private-network", "--machine=\(name)",
            "--directory=\(root)", "--console=read-only", "--boot",
        ], log: directory.appendingPathComponent("console.log").path)
        let nspawnPID = nspawn!.pid
        leader = 0
        // The container's init is the child of nspawn that runs systemd (nspawn's first child
        // is a helper that starts it), and it answers once it has set up its mounts.
        try waitUntil("the container's systemd answers", seconds: 30) {
            let children = (try? String(contentsOfFile: "/proc/\(nspawnPID)/task/\(nspawnPID)/children", encoding: .utf8)) ?? ""
            leader = children.split(separator: " ").compactMap { pid_t($0) }.first { child in
                (try? String(contentsOfFile: "/proc/\(child)/comm", encoding: .utf8)) == "systemd\n"
            } ?? 0
            guard leader > 0 else { return nspawn?.isRunning == false }
            return (try? run("systemctl is-system-running", timeout: 5))?.stdout.isEmpty == false
        }
        try #require(leader > 0, "systemd-nspawn stopped (exit \(nspawn?.exitStatus ?? -1)):\n\(consoleLog.suffix(3000))")
        // `--wait` answers nothing (and fails) when systemd's bus drops it while the boot is
        // still under way: ask again until it says a state, within a minute.
        let deadline = Date().addingTimeInterval(60)
        var state = ""
        repeat {
            state = try run("systemctl is-system-running --wait", timeout: 60).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            if state.isEmpty { Thread.sleep(forTimeInterval: 0.2) }
        } while state.isEmpty && Date() < deadline
        return state
    }

    /// Reboots the container as its administrator would; nspawn's exit status then (133 means
    /// "reboot requested"), once it has booted again.
    func reboot() throws -> (exitStatus: Int32?, state: String) {
        _ = try run("systemctl reboot")
        let status = nspawn?.waitForExit(within: 60)
        try #require(status != nil, "the container did not go down for the reboot:\n\(consoleLog.suffix(3000))")
        return (status, try boot())
    }

    private var enter: [String] {
        ["--target", "\(leader)", "--mount", "--uts", "--ipc", "--net", "--pid", "--",
         "/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "/bin/sh", "-c"]
    }

    /// Runs a shell command inside the container, to completion.
    func run(_ command: String, timeout: Double = 30) throws -> (status: Int32, stderr: String, stdout: String) {
        try Stack.run("/usr/bin/nsenter", enter + [command], timeout: timeout)
    }

    /// Starts a shell command inside the container, its output appended to `log` (on the host).
    func launch(_ command: String, log: String) throws -> ChildProcess {
        try Stack.launch("/usr/bin/nsenter", enter + [command], log: log)
    }

    /// Copies a host file into the container (into its overlay) at `path`.
    func copyIn(_ file: String, to path: String) throws {
        let destination = root + path
        try? FileManager.default.removeItem(atPath: destination)
        try FileManager.default.copyItem(atPath: file, toPath: destination)
    }

    /// One word of `systemctl`'s answer about `unit`: `is-active`, `is-enabled`, or
    /// `show -P Property`.
    func systemctl(_ query: String, _ unit: String) throws -> String {
        try run("systemctl \(query) \(unit)").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
