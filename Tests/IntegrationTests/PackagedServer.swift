import Foundation
import Testing

/// askd's Debian package in a booted container, set up as deploy/README.md tells an
/// administrator to: `apt install ./askd_*.deb`, settings in /etc/askd/askd.env, a certificate
/// where the site expects it (self-signed here), the site linked into sites-enabled. Clients
/// are curl inside the container, over HTTPS to the shipped site, checking the certificate.
final class PackagedServer {
    static let hostName = "askd.example.com"
    static let certificate = "/etc/letsencrypt/live/\(hostName)/fullchain.pem"
    /// What the test adds to the shipped /etc/askd/askd.env: the offline echo provider (it
    /// streams a word every 40 ms), and a short drain, so that a restart shows both sides of it.
    static let drainSeconds = 5
    static let settings = "\n# Added by the boot test.\nASKD_PROVIDER=echo\nASKD_DRAIN_SECONDS=\(drainSeconds)\n"

    let container: BootedContainer

    init(container: BootedContainer) {
        self.container = container
    }

    /// The package askd_<version>_amd64.deb that `make test` built (ASKD_DEB), or one built now
    /// from the release binary.
    static func currentPackage(into directory: URL) throws -> String {
        if let built = ProcessInfo.processInfo.environment["ASKD_DEB"], !built.isEmpty { return built }
        return try package(version: nil, into: directory)
    }

    /// dev/build-deb's package of the release binary, with `version` (or the tree's own).
    static func package(version: String?, into directory: URL) throws -> String {
        let arguments = (version.map { ["--version", $0] } ?? []) + ["--fast", directory.path]
        let result = try Stack.run(Stack.repository.appendingPathComponent("dev/build-deb").path, arguments, timeout: 120)
        try #require(result.status == 0, "dev/build-deb: \(result.stderr)")
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `apt-get install ./askd.deb` inside the container; apt's output.
    @discardableResult
    func install(_ package: String) throws -> String {
        let name = "/root/" + URL(fileURLWithPath: package).lastPathComponent
        try container.copyIn(package, to: name)
        let result = try container.run("DEBIAN_FRONTEND=noninteractive apt-get install -y \(name) 2>&1", timeout: 90)
        try #require(result.status == 0, "apt-get install \(name):\n\(result.stdout)")
        return result.stdout
    }

    /// The settings, a self-signed certificate for the site's host name, and the site enabled in
    /// place of Debian's default one; nginx reloaded.
    func configure() throws {
        let live = "/etc/letsencrypt/live/\(Self.hostName)"
        let result = try container.run("""
            set -e
            printf '%s' '\(Self.settings)' >> /etc/askd/askd.env
            mkdir -p \(live)
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
                -subj /CN=\(Self.hostName) -addext subjectAltName=DNS:\(Self.hostName) \
                -keyout \(live)/privkey.pem -out \(live)/fullchain.pem 2>&1
            cp \(live)/fullchain.pem \(live)/chain.pem
            ln -s ../sites-available/askd /etc/nginx/sites-enabled/askd
            rm /etc/nginx/sites-enabled/default
            nginx -t 2>&1
            systemctl reload nginx
            """)
        try #require(result.status == 0, "setting up the site: \(result.stdout)\(result.stderr)")
    }

    /// `askd-admin token create`: the token it prints.
    func createToken(_ name: String) throws -> String {
        let created = try container.run("askd-admin token create --name \(name)")
        try #require(created.status == 0, "askd-admin token create: \(created.stderr)")
        return created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    struct Answer: CustomStringConvertible {
        let status: Int
        let httpVersion: String
        let body: String

        func json() throws -> [String: Any] {
            try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any], "not a JSON object: \(body)")
        }

        var description: String { "HTTP/\(httpVersion) \(status) \(body.prefix(300))" }
    }

    private func curl(_ path: String, token: String?, body: String?) throws -> (command: String, output: String) {
        let id = UUID().uuidString.prefix(8)
        var command = "curl -sS --cacert \(Self.certificate) --resolve \(Self.hostName):443:127.0.0.1 --max-time 60"
        if let token { command += " -H 'Authorization: Bearer \(token)'" }
        if let body {
            try body.write(toFile: container.root + "/root/request-\(id).json", atomically: true, encoding: .utf8)
            command += " -H 'Content-Type: application/json' --data-binary @/root/request-\(id).json"
        }
        return (command + " https://\(Self.hostName)\(path)", "/root/response-\(id)")
    }

    /// One request over HTTPS (HTTP/2 where the site offers it, as curl asks for it).
    func https(_ path: String, token: String? = nil, body: String? = nil) throws -> Answer {
        let (command, output) = try curl(path, token: token, body: body)
        let result = try container.run(command + " -o \(output) -w '%{http_code} %{http_version}'")
        try #require(result.status == 0, "curl \(path): exit \(result.status): \(result.stderr)")
        let words = result.stdout.split(separator: " ")
        let text = (try? String(contentsOfFile: container.root + output, encoding: .utf8)) ?? ""
        return Answer(status: words.first.flatMap { Int($0) } ?? 0, httpVersion: words.count > 1 ? String(words[1]) : "", body: text)
    }

    /// Starts a streamed /ask of `words` words (the echo provider sends one every 40 ms); its
    /// events, then curl's exit status, go to `log` on the host.
    func startStream(words: Int, token: String, log: String) throws -> ChildProcess {
        let prompt = (0..<words).map { "w\($0)" }.joined(separator: " ")
        let (command, _) = try curl("/ask", token: token, body: #"{"prompt":"\#(prompt)","stream":true}"#)
        return try container.launch(command + " -N; echo \"curl exit $?\"", log: log)
    }

    /// The journal's lines for askd.service, messages only.
    func journal() throws -> String {
        try container.run("journalctl -u askd.service --no-pager -o cat").stdout
    }
}
