import API
import FoundationEssentials
import HTTP
import Store
import Text

/// The list cursor and its base64url. Input: any bytes, used three ways: as the `cursor` query
/// value itself, as the text inside a cursor (encoded here, so the fuzzer reaches the parsing of
/// `<milliseconds>.<id>`), and as bytes to encode.
///
/// Invariants: `decode(encode(x)) == x`, and an encoding is only the 64 URL-safe characters
/// without padding; `cursor(from:)` either throws a 400 `HTTPError` or returns a cursor whose own
/// token reads back as the same cursor.
public enum CursorFuzz {
    public static func check(_ bytes: [UInt8]) {
        let encoded = Base64URL.encode(bytes)
        require(encoded.utf8.count == (bytes.count * 4 + 2) / 3, "\(bytes.count) bytes encode to \(encoded.utf8.count) characters")
        require(
            encoded.utf8.allSatisfy { byte in
                (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte)
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
            },
            "\(encoded) is not base64url"
        )
        require(Base64URL.decode(encoded) == bytes, "\(bytes) encode to \(encoded), which does not decode back")

        checkCursor(String(decoding: bytes, as: UTF8.self))
        checkCursor(encoded)
    }

    private static func checkCursor(_ token: String) {
        let cursor: ConversationCursor
        do {
            cursor = try ConversationsHandler.cursor(from: token)
        } catch let error as HTTPError {
            require(error.status == .badRequest, "cursor \(token.debugDescription) is a \(error.status)")
            return
        } catch {
            fatalError("cursor \(token.debugDescription) throws \(error), not an HTTPError")
        }
        require(ConversationID.isWellFormed(cursor.id), "cursor \(token.debugDescription) has id \(cursor.id.debugDescription)")
        require(cursor.createdAt <= Date.latestStored, "cursor \(token.debugDescription) is after \(Date.latestStored)")
        let conversation = Conversation(id: cursor.id, owner: "", createdAt: cursor.createdAt, updatedAt: cursor.createdAt)
        let again = ConversationsHandler.token(for: conversation)
        let reread = try? ConversationsHandler.cursor(from: again)
        require(reread == cursor, "cursor \(token.debugDescription) is \(cursor), its token \(again) reads as \(reread.map { "\($0)" } ?? "an error")")
    }
}
