package holepunch.redis;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The examples of the RESP specification (redis.io/docs/reference/protocol-spec), and what must be refused. */
class RespTest {
    private static ByteBuffer bytes(String s) {
        return ByteBuffer.wrap(s.getBytes(StandardCharsets.UTF_8));
    }

    private static Resp.Value one(String s) throws Exception {
        ByteBuffer in = bytes(s);
        Resp.Value v = Resp.parse(in);
        assertNotNull(v, s);
        assertFalse(in.hasRemaining(), "the whole reply is consumed: " + s);
        return v;
    }

    @Test
    void specExamples_parse() throws Exception {
        assertEquals(new Resp.Simple("OK"), one("+OK\r\n"));
        assertEquals(new Resp.Error("Error message"), one("-Error message\r\n"));
        assertEquals(new Resp.Error("WRONGTYPE Operation against a key holding the wrong kind of value"),
                one("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"));
        assertEquals(new Resp.Int(0), one(":0\r\n"));
        assertEquals(new Resp.Int(1000), one(":1000\r\n"));
        assertEquals(new Resp.Int(-5), one(":-5\r\n"));
        assertEquals("hello", ((Resp.Bulk) one("$5\r\nhello\r\n")).text());
        assertEquals("", ((Resp.Bulk) one("$0\r\n\r\n")).text());
        assertNull(((Resp.Bulk) one("$-1\r\n")).bytes(), "null bulk string");
        assertEquals(List.of(), ((Resp.Array) one("*0\r\n")).items());
        assertNull(((Resp.Array) one("*-1\r\n")).items(), "null array");

        Resp.Array hw = (Resp.Array) one("*2\r\n$5\r\nhello\r\n$5\r\nworld\r\n");
        assertEquals("world", ((Resp.Bulk) hw.items().get(1)).text());
        assertEquals(List.of(new Resp.Int(1), new Resp.Int(2), new Resp.Int(3)), ((Resp.Array) one("*3\r\n:1\r\n:2\r\n:3\r\n")).items());

        Resp.Array mixed = (Resp.Array) one("*5\r\n:1\r\n:2\r\n:3\r\n:4\r\n$5\r\nhello\r\n");
        assertEquals("hello", ((Resp.Bulk) mixed.items().get(4)).text());

        Resp.Array nested = (Resp.Array) one("*2\r\n*3\r\n:1\r\n:2\r\n:3\r\n*2\r\n+Hello\r\n-World\r\n");
        assertEquals(new Resp.Error("World"), ((Resp.Array) nested.items().get(1)).items().get(1));

        Resp.Array withNull = (Resp.Array) one("*3\r\n$5\r\nhello\r\n$-1\r\n$5\r\nworld\r\n");
        assertNull(((Resp.Bulk) withNull.items().get(1)).bytes());
    }

    @Test
    void bulkStrings_areBinarySafe() throws Exception {
        assertEquals("a\r\nb", ((Resp.Bulk) one("$4\r\na\r\nb\r\n")).text());
    }

    @Test
    void commands_encodeAsAnArrayOfBulkStrings() {
        assertEquals("*2\r\n$4\r\nLLEN\r\n$6\r\nmylist\r\n",
                new String(Resp.encode(List.of("LLEN", "mylist")), StandardCharsets.UTF_8));
        assertEquals("*2\r\n$3\r\nGET\r\n$2\r\n\u00e9\r\n",
                new String(Resp.encode(List.of("GET", "\u00e9")), StandardCharsets.UTF_8), "lengths count UTF-8 bytes");
    }

    @Test
    void everyPrefixOfAReply_isIncomplete_andLeavesThePositionAlone() throws Exception {
        String reply = "*3\r\n$5\r\nhello\r\n:42\r\n*1\r\n+OK\r\n";
        for (int cut = 0; cut < reply.length(); cut++) {
            ByteBuffer in = bytes(reply.substring(0, cut));
            assertNull(Resp.parse(in), "prefix of " + cut + " bytes");
            assertEquals(0, in.position());
        }
        ByteBuffer two = bytes(reply + ":7\r\n");
        assertInstanceOf(Resp.Array.class, Resp.parse(two));
        assertEquals(new Resp.Int(7), Resp.parse(two), "replies are taken one after another");
    }

    @Test
    void malformedOrOversizedReplies_areRefusedWithAReason() {
        assertRefused("?what\r\n", "unknown reply type");
        assertRefused(":12a\r\n", "not an integer");
        assertRefused("$-2\r\n", "out of range");
        assertRefused("$" + (Resp.MAX_BULK + 1) + "\r\n", "out of range");
        assertRefused("*" + (Resp.MAX_ARRAY + 1) + "\r\n", "out of range");
        assertRefused("$3\r\nabcXY", "not followed by CRLF");
        assertRefused("+OK\rX\n", "CR not followed by LF");
        assertRefused("*1\r\n".repeat(Resp.MAX_DEPTH + 1) + ":1\r\n", "nested deeper");
        assertRefused("+" + "x".repeat(Resp.MAX_LINE + 2), "longer than");
    }

    private static void assertRefused(String s, String reason) {
        Resp.ProtocolException e = assertThrows(Resp.ProtocolException.class, () -> Resp.parse(bytes(s)));
        assertTrue(e.getMessage().contains(reason), e.getMessage());
    }

    @Test
    void urls_parseAsRedisCliReadsThem_andNeverPrintThePassword() {
        RedisUrl u = RedisUrl.parse("rediss://alice:s%40cret@cache.example:6380/2");
        assertEquals(new RedisUrl(true, "cache.example", 6380, "alice", "s@cret", 2), u);
        assertFalse(u.toString().contains("cret"), u.toString());
        assertEquals(new RedisUrl(false, "10.0.0.5", 6379, null, null, 0), RedisUrl.parse("redis://10.0.0.5"));
        assertEquals(new RedisUrl(false, "h", 6379, null, "pw", 0), RedisUrl.parse("redis://:pw@h"));
        assertEquals(new RedisUrl(false, "::1", 7000, null, null, 0), RedisUrl.parse("redis://[::1]:7000"));
        // Issue 23, finding 11: an unparsable REDIS_URL printed its password in the error.
        IllegalArgumentException unparsable = assertThrows(IllegalArgumentException.class, () -> RedisUrl.parse("redis://:s3cret pw@cache:6379"));
        assertFalse(unparsable.getMessage().contains("s3cret"), unparsable.getMessage());
        assertTrue(unparsable.getMessage().startsWith("REDIS_URL is not a URL"), unparsable.getMessage());
        for (String bad : new String[] {"http://h", "redis://", "redis://h/x", "redis://h/-1", "not a url"}) {
            assertThrows(IllegalArgumentException.class, () -> RedisUrl.parse(bad), bad);
        }
    }
}
