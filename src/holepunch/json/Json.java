package holepunch.json;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;

import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * JSON values as plain Java objects on jackson-core's streaming parser and generator:
 * objects are {@code Map<String,Object>} (insertion order kept), arrays {@code List<Object>},
 * numbers {@code Long}, {@code BigInteger} or {@code BigDecimal}, and {@code String},
 * {@code Boolean} or {@code null}. Nesting and string sizes are bounded.
 */
public final class Json {
    public static final int MAX_DEPTH = 32;

    private static final JsonFactory FACTORY = JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder()
                    .maxNestingDepth(MAX_DEPTH)
                    .maxNumberLength(64)
                    .maxStringLength(1 << 20)
                    .build())
            .build();

    private Json() {
    }

    /** Thrown for text that is not one JSON value. */
    public static final class ParseException extends Exception {
        public ParseException(String message) {
            super(message, null, false, false);
        }
    }

    public static Object parse(String text) throws ParseException {
        try (JsonParser p = FACTORY.createParser(text)) {
            JsonToken first = p.nextToken();
            if (first == null) throw new ParseException("empty input");
            Object value = read(p, first);
            if (p.nextToken() != null) throw new ParseException("trailing data after the JSON value");
            return value;
        } catch (IOException e) {
            throw new ParseException(firstLine(e.getMessage()));
        } catch (RuntimeException e) {
            // e.g. NumberFormatException for 1e-2147483649: one bad value is a parse error of its message only
            throw new ParseException("unusable value (" + e.getClass().getSimpleName() + ")");
        }
    }

    /** Parses text that must be a JSON object. */
    public static Map<String, Object> parseObject(String text) throws ParseException {
        Object v = parse(text);
        if (v instanceof Map<?, ?> m) {
            @SuppressWarnings("unchecked") Map<String, Object> map = (Map<String, Object>) m;
            return map;
        }
        throw new ParseException("expected a JSON object, got " + typeName(v));
    }

    private static Object read(JsonParser p, JsonToken t) throws IOException {
        switch (t) {
            case START_OBJECT -> {
                Map<String, Object> map = new LinkedHashMap<>();
                for (JsonToken k = p.nextToken(); k != JsonToken.END_OBJECT; k = p.nextToken()) {
                    String name = p.currentName();
                    map.put(name, read(p, p.nextToken()));
                }
                return map;
            }
            case START_ARRAY -> {
                List<Object> list = new ArrayList<>();
                for (JsonToken e = p.nextToken(); e != JsonToken.END_ARRAY; e = p.nextToken()) list.add(read(p, e));
                return list;
            }
            case VALUE_STRING -> {
                return p.getText();
            }
            case VALUE_NUMBER_INT -> {
                return p.getNumberType() == JsonParser.NumberType.BIG_INTEGER ? p.getBigIntegerValue() : (Object) p.getLongValue();
            }
            case VALUE_NUMBER_FLOAT -> {
                return p.getDecimalValue();
            }
            case VALUE_TRUE -> {
                return Boolean.TRUE;
            }
            case VALUE_FALSE -> {
                return Boolean.FALSE;
            }
            case VALUE_NULL -> {
                return null;
            }
            default -> throw new IOException("unexpected token " + t);
        }
    }

    public static String write(Object value) {
        StringWriter out = new StringWriter();
        try (JsonGenerator g = FACTORY.createGenerator(out)) {
            write(g, value);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toString();
    }

    /**
     * The JSON text as UTF-8, generated straight into bytes: no String on the way. Surrogates are
     * written as escapes (RFC 8259 §7), as the original's {@code json.dumps} writes them: a
     * character beyond the BMP as its escaped pair, and a lone surrogate, which a client may send
     * as an escape and no UTF-8 can hold, as itself, so it comes back as it was sent. (Jackson's
     * COMBINE_UNICODE_SURROGATES_IN_UTF8 would write pairs as four bytes, but in 2.20 it also joins
     * a lone high surrogate with whatever character follows it.)
     */
    public static byte[] writeUtf8(Object value) {
        Sink sink = SINK.get();
        sink.reset();
        try (JsonGenerator g = FACTORY.createGenerator(sink, JsonEncoding.UTF8)) {
            write(g, value);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return sink.take();
    }

    /** A thread's reusable output for {@link #writeUtf8}; it keeps at most {@link #KEPT_BYTES} between uses. */
    private static final ThreadLocal<Sink> SINK = ThreadLocal.withInitial(Sink::new);
    static final int KEPT_BYTES = 16 * 1024;

    private static final class Sink extends java.io.ByteArrayOutputStream {
        Sink() {
            super(512);
        }

        /** The bytes written, and the buffer let go when a large value grew it. */
        byte[] take() {
            byte[] out = toByteArray();
            if (buf.length > KEPT_BYTES) buf = new byte[512];
            return out;
        }
    }

    /** Indented, for people to read. */
    public static String writePretty(Object value) {
        StringWriter out = new StringWriter();
        try (JsonGenerator g = FACTORY.createGenerator(out)) {
            g.useDefaultPrettyPrinter();
            write(g, value);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toString();
    }

    private static void write(JsonGenerator g, Object v) throws IOException {
        switch (v) {
            case null -> g.writeNull();
            case String s -> g.writeString(s);
            case Boolean b -> g.writeBoolean(b);
            case Integer i -> g.writeNumber(i);
            case Long l -> g.writeNumber(l);
            case Double d -> g.writeNumber(d);
            case BigInteger b -> g.writeNumber(b);
            case BigDecimal b -> g.writeNumber(b);
            case Map<?, ?> m -> {
                g.writeStartObject();
                for (Map.Entry<?, ?> e : m.entrySet()) {
                    g.writeFieldName(String.valueOf(e.getKey()));
                    write(g, e.getValue());
                }
                g.writeEndObject();
            }
            case List<?> l -> {
                g.writeStartArray();
                for (Object e : l) write(g, e);
                g.writeEndArray();
            }
            default -> throw new IllegalArgumentException("not a JSON value: " + v.getClass().getName());
        }
    }

    /** Builds an object with keys in the order given: {@code obj("type", "x", "status", "ok")}. */
    public static Map<String, Object> obj(Object... keysAndValues) {
        Map<String, Object> m = LinkedHashMap.newLinkedHashMap(keysAndValues.length / 2);
        for (int i = 0; i < keysAndValues.length; i += 2) m.put((String) keysAndValues[i], keysAndValues[i + 1]);
        return m;
    }

    public static String typeName(Object v) {
        return switch (v) {
            case null -> "null";
            case String s -> "a string";
            case Boolean b -> "a boolean";
            case Number n -> "a number";
            case Map<?, ?> m -> "an object";
            case List<?> l -> "an array";
            default -> v.getClass().getSimpleName();
        };
    }

    private static String firstLine(String s) {
        if (s == null) return "malformed JSON";
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
