package holepunch.rendezvous;

import com.sun.net.httpserver.HttpExchange;
import holepunch.json.Json;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/** The rendezvous's plain HTTP answers: a JSON or text body (none for HEAD), and 405 for a method other than GET. */
final class HttpReplies {
    private HttpReplies() {
    }

    /** True for GET and HEAD; otherwise answers 405 with {@code Allow: GET} and returns false. */
    static boolean getOnly(HttpExchange ex) throws IOException {
        String method = ex.getRequestMethod();
        if (method.equals("GET") || method.equals("HEAD")) return true;
        ex.getResponseHeaders().set("Allow", "GET");
        json(ex, 405, Json.obj("detail", "Method Not Allowed"));
        return false;
    }

    static void json(HttpExchange ex, int status, Object body) throws IOException {
        text(ex, status, "application/json", Json.write(body));
    }

    static void text(HttpExchange ex, int status, String contentType, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", contentType);
        boolean head = ex.getRequestMethod().equals("HEAD");
        ex.sendResponseHeaders(status, head ? -1 : bytes.length);
        if (!head) {
            try (OutputStream out = ex.getResponseBody()) {
                out.write(bytes);
            }
        }
    }
}
