package holepunch.net;

import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

class AddressesTest {
    private static String text(String literal) {
        return Addresses.text(InetAddress.ofLiteral(literal));
    }

    /** The recommendations and examples of RFC 5952 §4. */
    @Test
    void text_writesIpv6InRfc5952Form() {
        assertEquals("::1", text("0:0:0:0:0:0:0:1"));
        assertEquals("::", text("0:0:0:0:0:0:0:0"));
        assertEquals("2001:db8::1", text("2001:0db8:0000:0000:0000:0000:0000:0001"));   // §4.1, §4.2.1
        assertEquals("2001:db8:0:1:1:1:1:1", text("2001:db8:0:1:1:1:1:1"));            // §4.2.2: not for one group
        assertEquals("2001:0:0:1::1", text("2001:0:0:1:0:0:0:1"));                      // §4.2.3: the longest run
        assertEquals("2001:db8::1:0:0:1", text("2001:db8:0:0:1:0:0:1"));                // §4.2.3: the first of equal runs
        assertEquals("2001:db8::aaaa", text("2001:DB8::AAAA"));                         // §4.3: lowercase
        assertEquals("198.51.100.7", text("198.51.100.7"));
        assertEquals("[::1]:53", Addresses.text(new InetSocketAddress(InetAddress.ofLiteral("::1"), 53)));
    }

    @Test
    void hostPort_parsesIpv4AndBracketedIpv6_andNothingElse() {
        assertEquals(new InetSocketAddress(InetAddress.ofLiteral("10.0.0.1"), 5), Addresses.hostPort("10.0.0.1:5"));
        assertEquals(new InetSocketAddress(InetAddress.ofLiteral("::1"), 53), Addresses.hostPort("[::1]:53"));
        for (String bad : new String[] {"::1:53", "example.com:53", "10.0.0.1", "10.0.0.1:", "10.0.0.1:0", "10.0.0.1:65536", "10.0.0.1:+5", ":5", null}) {
            assertNull(Addresses.hostPort(bad), String.valueOf(bad));
        }
    }
}
