package holepunch.websocket;

/** A violation of RFC 6455 by the peer; carries the close code to fail the connection with (§7.1.7). */
public final class WebSocketException extends Exception {
    private final int closeCode;

    public WebSocketException(int closeCode, String message) {
        super(message, null, false, false);
        this.closeCode = closeCode;
    }

    public int closeCode() {
        return closeCode;
    }

    static WebSocketException protocol(String message) {
        return new WebSocketException(CloseCode.PROTOCOL_ERROR, message);
    }
}
