import HTTP
import Testing

struct MediaTypeTests {
    @Test(arguments: [
        ("application/json", "application/json"),
        ("Application/JSON; charset=utf-8", "application/json"),
        (" application/x-www-form-urlencoded ;charset=UTF-8", "application/x-www-form-urlencoded"),
        ("text/json;", "text/json"),
        ("\tapplication/json\t", "application/json"),
        (";charset=utf-8", ""),
        ("", ""),
        ("TEXT/PLAIN", "text/plain"),
        ("application/jsön", "application/jsön"),
    ])
    func theMediaTypeIsWhatComesBeforeItsParametersInLowerCase(value: String, expected: String) {
        #expect(MediaType.of(contentType: value) == expected)
    }

    @Test func noContentTypeHasNoMediaType() {
        #expect(MediaType.of(contentType: nil) == "")
    }
}
