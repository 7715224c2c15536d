package holepunch.redis;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * RESP2 byte syntax (the Redis serialization protocol, redis.io/docs/reference/protocol-spec), apart from
 * what the commands mean: a command is encoded as an array of bulk strings; a reply is parsed into a
 * {@link Value}. Every length is bounded, so a broken or hostile server cannot make us allocate without limit.
 */
public final class Resp {
    /** The largest bulk string we accept (the spec allows 512 MB; our entries are a few hundred bytes). */
    public static final int MAX_BULK = 8 * 1024 * 1024;
    /** The most elements one array may announce. */
    public static final int MAX_ARRAY = 1_000_000;
    /** How deeply arrays may nest (our replies nest two deep at most). */
    public static final int MAX_DEPTH = 8;
    /** The longest simple string, error or integer line. */
    public static final int MAX_LINE = 64 * 1024;

    private Resp() {
    }

    /** One reply. */
    public sealed interface Value permits Simple, Error, Int, Bulk, Array {
    }

    /** {@code +OK\r\n}. */
    public record Simple(String text) implements Value {
    }

    /** {@code -ERR message\r\n}: the server refused the command. */
    public record Error(String message) implements Value {
    }

    /** {@code :1000\r\n}. */
    public record Int(long value) implements Value {
    }

    /** {@code $5\r\nhello\r\n}; {@code bytes} is null for the null bulk string {@code $-1\r\n}. */
    public record Bulk(byte[] bytes) implements Value {
        public String text() {
            return bytes == null ? null : new String(bytes, StandardCharsets.UTF_8);
        }
    }

    /** {@code *2\r\n...}; {@code items} is null for the null array {@code *-1\r\n}. */
    public record Array(List<Value> items) implements Value {
    }

    /** Thrown on bytes that are not RESP2, or that pass our bounds. */
    public static final class ProtocolException extends Exception {
        public ProtocolException(String message) {
            super(message);
        }
    }

    /** A command as the spec says clients send one: an array of bulk strings. */
    public static byte[] encode(List<String> args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(16 + 16 * args.size());
        out.writeBytes(("*" + args.size() + "\r\n").getBytes(StandardCharsets.US_ASCII));
        for (String a : args) {
            byte[] b = a.getBytes(StandardCharsets.UTF_8);
            out.writeBytes(("$" + b.length + "\r\n").getBytes(StandardCharsets.US_ASCII));
            out.writeBytes(b);
            out.writeBytes(CRLF);
        }
        return out.toByteArray();
    }

    private static final byte[] CRLF = {'\r', '\n'};

    /**
     * Parses one reply from {@code in} starting at its position. On success the position moves past it;
     * when the bytes end before the reply does, returns null and leaves the position where it was.
     */
    public static Value parse(ByteBuffer in) throws ProtocolException {
        int start = in.position();
        try {
            Value v = parse(in, 0);
            if (v == null) in.position(start);
            return v;
        } catch (ProtocolException e) {
            in.position(start);
            throw e;
        }
    }

    private static Value parse(ByteBuffer in, int depth) throws ProtocolException {
        if (!in.hasRemaining()) return null;
        byte type = in.get();
        String line = line(in);
        if (line == null) return null;
        switch (type) {
            case '+':
                return new Simple(line);
            case '-':
                return new Error(line);
            case ':':
                return new Int(number(line));
            case '$': {
                long n = number(line);
                if (n == -1) return new Bulk(null);
                if (n < 0 || n > MAX_BULK) throw new ProtocolException("bulk string length " + n + " out of range");
                if (in.remaining() < n + 2) return null;
                byte[] b = new byte[(int) n];
                in.get(b);
                if (in.get() != '\r' || in.get() != '\n') throw new ProtocolException("bulk string not followed by CRLF");
                return new Bulk(b);
            }
            case '*': {
                long n = number(line);
                if (n == -1) return new Array(null);
                if (n < 0 || n > MAX_ARRAY) throw new ProtocolException("array length " + n + " out of range");
                if (depth >= MAX_DEPTH) throw new ProtocolException("arrays nested deeper than " + MAX_DEPTH);
                List<Value> items = new ArrayList<>((int) Math.min(n, 1024));
                for (long i = 0; i < n; i++) {
                    Value v = parse(in, depth + 1);
                    if (v == null) return null;
                    items.add(v);
                }
                return new Array(Collections.unmodifiableList(items));
            }
            default:
                throw new ProtocolException("unknown reply type byte 0x" + Integer.toHexString(type & 0xff));
        }
    }

    /** The text up to CRLF (consumed), or null when CRLF has not arrived. */
    private static String line(ByteBuffer in) throws ProtocolException {
        int from = in.position();
        for (int i = from; i + 1 < in.limit(); i++) {
            if (i - from > MAX_LINE) throw new ProtocolException("line longer than " + MAX_LINE + " bytes");
            if (in.get(i) == '\r') {
                if (in.get(i + 1) != '\n') throw new ProtocolException("CR not followed by LF");
                byte[] b = new byte[i - from];
                in.get(b);
                in.position(i + 2);
                return new String(b, StandardCharsets.UTF_8);
            }
        }
        if (in.limit() - from > MAX_LINE) throw new ProtocolException("line longer than " + MAX_LINE + " bytes");
        return null;
    }

    private static long number(String line) throws ProtocolException {
        try {
            return Long.parseLong(line);
        } catch (NumberFormatException e) {
            throw new ProtocolException("not an integer: \"" + (line.length() > 40 ? line.substring(0, 40) + "..." : line) + "\"");
        }
    }
}
