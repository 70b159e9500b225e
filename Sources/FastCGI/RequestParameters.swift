import HTTP

/// How much body follows the params.
package enum BodyLength: Equatable {
    case exactly(Int)
    /// No usable CONTENT_LENGTH: nginx with `fastcgi_request_buffering off` and a chunked body.
    case untilEndOfStream
}

/// Maps FastCGI params (CGI/1.1 meta-variables: those of `dev/askd_fastcgi.conf`, or of nginx's
/// stock `fastcgi_params`, whose extra ones are ignored) to a `Request`.
package enum RequestParameters {
    /// The request the params describe, with an empty body, and how long its body is:
    /// a 400 `HTTPError` for a CONTENT_LENGTH that is not a number.
    package static func request(from params: [(name: String, value: String)]) -> (Request, Result<BodyLength, HTTPError>) {
        var method = "GET"
        var requestURI: String?
        var documentURI: String?
        var queryString: String?
        var remoteAddress = ""
        var contentLength: String?
        var headers = HTTPHeaders()

        for (name, value) in params {
            if name.hasPrefix("HTTP_") {
                // HTTP_PROXY is the httpoxy vector; nginx is told to blank it, and askd ignores it.
                guard name != "HTTP_PROXY" else { continue }
                headers.add(name: headerName(fromParameter: name.dropFirst(5)), value: value)
                continue
            }
            switch name {
            case "REQUEST_METHOD": method = value
            case "REQUEST_URI": requestURI = value
            case "DOCUMENT_URI": documentURI = value
            case "QUERY_STRING": queryString = value
            case "REMOTE_ADDR": remoteAddress = value
            case "CONTENT_TYPE" where !value.isEmpty: headers.add(name: "content-type", value: value)
            case "CONTENT_LENGTH" where !value.isEmpty:
                contentLength = value
                headers.add(name: "content-length", value: value)
            default: break
            }
        }

        var path = documentURI ?? "/"
        var query = queryString ?? ""
        if let requestURI, !requestURI.isEmpty {
            if let mark = requestURI.firstIndex(of: "?") {
                path = String(requestURI[..<mark])
                if queryString == nil { query = String(requestURI[requestURI.index(after: mark)...]) }
            } else {
                path = requestURI
            }
        }

        let request = Request(method: method, path: path, query: query, headers: headers, remoteAddress: remoteAddress)
        guard let contentLength else { return (request, .success(.untilEndOfStream)) }
        guard contentLength.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            let length = Int(contentLength)
        else {
            return (request, .failure(HTTPError.badRequest("Content-Length must be a non-negative integer")))
        }
        return (request, .success(.exactly(length)))
    }

    /// `CONTENT_TYPE`-style `X_REQUEST_ID` as `x-request-id`.
    static func headerName(fromParameter name: Substring) -> String {
        String(decoding: name.utf8.map { byte in
            switch byte {
            case UInt8(ascii: "_"): UInt8(ascii: "-")
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): byte + 32
            default: byte
            }
        }, as: UTF8.self)
    }
}
