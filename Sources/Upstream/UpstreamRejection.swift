import JSON

/// The upstream refused a forwarded request as the client wrote it (400, 404 for an unknown
/// model, 413 or 422): the client is told its error object, since the request was its own.
public struct UpstreamRejection: Error, Sendable, Equatable {
    public var status: Int
    public var message: String
    public var type: String?
    public var param: String?
    public var code: String?

    public init(status: Int, message: String, type: String? = nil, param: String? = nil, code: String? = nil) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
    }

    /// The rejection an error answer holds, or nil when the answer is not the client's to see:
    /// a 404 other than an unknown model is a wrong upstream URL, askd's fault.
    static func from(status: Int, body: [UInt8]) -> UpstreamRejection? {
        guard [400, 404, 413, 422].contains(status) else { return nil }
        let error = String(validating: body, as: UTF8.self) == nil ? nil : (try? JSONParser.parse(body, maxDepth: 16))?["error"]
        let code = error?["code"]?.string ?? error?["code"]?.integer.map(String.init)
        if status == 404 && code != "model_not_found" { return nil }
        let message = error?["message"]?.string ?? error?.string ?? "the upstream refused the request (status \(status))"
        return UpstreamRejection(status: status, message: message, type: error?["type"]?.string, param: error?["param"]?.string, code: code)
    }
}
