package holepunch.portmap;

import com.sun.net.httpserver.HttpServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The UPnP IGD client's defences, on loopback with a real HTTP server: it takes an SSDP answer
 * only from the gateway and only pointing at the gateway, refuses a control URL elsewhere and an
 * oversized description, and reads a SOAP fault's error code. (Mapping against Debian's miniupnpd
 * is in the NAT lab: {@code NatLabTest.portMapping_eachProtocolMapsThePort_andDeletesItOnShutdown}.)
 */
class UpnpTest {
    final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void close() throws Exception {
        for (AutoCloseable c : open) c.close();
    }

    /** An SSDP responder on {@code bind} (its port returned) that answers every search from {@code answerFrom} with {@code location}. */
    int ssdp(String bind, String answerFrom, String location) throws Exception {
        DatagramChannel in = DatagramChannel.open().bind(new InetSocketAddress(bind, 0));
        DatagramChannel out = DatagramChannel.open().bind(new InetSocketAddress(answerFrom, 0));
        open.add(in);
        open.add(out);
        Thread.ofVirtual().start(() -> {
            ByteBuffer b = ByteBuffer.allocate(2048);
            try {
                while (true) {
                    b.clear();
                    InetSocketAddress from = (InetSocketAddress) in.receive(b);
                    String search = new String(b.array(), 0, b.position(), StandardCharsets.US_ASCII);
                    if (!search.startsWith("M-SEARCH")) continue;
                    out.send(ByteBuffer.wrap(("HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nLOCATION: "
                            + location + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII)), from);
                }
            } catch (Exception closed) {
                // the test is over
            }
        });
        return ((InetSocketAddress) in.getLocalAddress()).getPort();
    }

    HttpServer http(String description) throws Exception {
        HttpServer s = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        s.createContext("/rootDesc.xml", x -> {
            byte[] body = description.getBytes(StandardCharsets.UTF_8);
            x.sendResponseHeaders(200, body.length);
            x.getResponseBody().write(body);
            x.close();
        });
        s.createContext("/ctl", x -> {
            byte[] body = ("<?xml version=\"1.0\"?><s:Envelope><s:Body><s:Fault><detail><UPnPError><errorCode>718</errorCode>"
                    + "<errorDescription>ConflictInMappingEntry</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>")
                    .getBytes(StandardCharsets.UTF_8);
            x.sendResponseHeaders(500, body.length);
            x.getResponseBody().write(body);
            x.close();
        });
        s.start();
        open.add(() -> s.stop(0));
        return s;
    }

    static String description(String controlUrl) {
        return "<?xml version=\"1.0\"?><root><device><deviceList><device><serviceList>"
                + "<service><serviceType>urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1</serviceType><controlURL>/wrong</controlURL></service>"
                + "<service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType><controlURL>" + controlUrl + "</controlURL></service>"
                + "</serviceList></device></deviceList></device></root>";
    }

    @Test
    void discovery_takesTheGatewaysAnswer_findsTheService_andReadsAFaultsCode() throws Exception {
        HttpServer s = http(description("/ctl"));
        String location = "http://127.0.0.1:" + s.getAddress().getPort() + "/rootDesc.xml";
        int port = ssdp("127.0.0.1", "127.0.0.1", location);
        Upnp u = new Upnp(Duration.ofSeconds(2));
        URI found = u.discover(InetAddress.getByName("127.0.0.1"), port);
        assertEquals(location, found.toString());
        Upnp.Service service = u.service(found);
        assertEquals("urn:schemas-upnp-org:service:WANIPConnection:1", service.type());
        assertEquals("/ctl", service.control().getPath());
        Upnp.Fault f = assertThrows(Upnp.Fault.class, () -> u.add(service, 4000, InetAddress.getByName("127.0.0.1"), 4000, 3600));
        assertEquals(718, f.code);
        assertTrue(f.getMessage().contains("ConflictInMappingEntry"), f.getMessage());
    }

    @Test
    void attack_anSsdpAnswerFromAnotherAddress_isIgnored() throws Exception {
        int port = ssdp("127.0.0.1", "127.0.0.2", "http://127.0.0.2:1/rootDesc.xml");      // a neighbour answering in the gateway's place
        PortMapException e = assertThrows(PortMapException.class,
                () -> new Upnp(Duration.ofMillis(700)).discover(InetAddress.getByName("127.0.0.1"), port));
        assertTrue(e.getMessage().contains("no Internet Gateway Device answered"), e.getMessage());
    }

    @Test
    void attack_aLocationOrControlUrlAwayFromTheGateway_isRefused() throws Exception {
        int port = ssdp("127.0.0.1", "127.0.0.1", "http://127.0.0.2:1/rootDesc.xml");
        PortMapException e = assertThrows(PortMapException.class,
                () -> new Upnp(Duration.ofSeconds(2)).discover(InetAddress.getByName("127.0.0.1"), port));
        assertTrue(e.getMessage().contains("points elsewhere (127.0.0.2)"), e.getMessage());

        HttpServer s = http(description("http://127.0.0.2:9/ctl"));
        PortMapException c = assertThrows(PortMapException.class, () -> new Upnp(Duration.ofSeconds(2))
                .service(URI.create("http://127.0.0.1:" + s.getAddress().getPort() + "/rootDesc.xml")));
        assertTrue(c.getMessage().contains("control URL points away"), c.getMessage());
    }

    /**
     * Issue 23, finding 10: a description whose controlURL named another port of the gateway (a
     * Docker API on :2375 received AddPortMapping) steered the worker's SOAP there. The calls now go
     * only to the server that gave the description; and a malformed LOCATION is a PortMapException
     * (the port-mapping thread died of the IllegalArgumentException, leaving /status at error: null).
     */
    @Test
    void attack_aControlUrlOnAnotherPortOfTheGateway_orAMalformedLocation_isRefused() throws Exception {
        HttpServer s = http(description("http://127.0.0.1:2375/containers/create"));
        PortMapException c = assertThrows(PortMapException.class, () -> new Upnp(Duration.ofSeconds(2))
                .service(URI.create("http://127.0.0.1:" + s.getAddress().getPort() + "/rootDesc.xml")));
        assertTrue(c.getMessage().contains("points away") && c.getMessage().contains(":2375"), c.getMessage());

        int port = ssdp("127.0.0.1", "127.0.0.1", "http://127.0.0.1:80/%zz");
        PortMapException m = assertThrows(PortMapException.class,
                () -> new Upnp(Duration.ofSeconds(2)).discover(InetAddress.getByName("127.0.0.1"), port));
        assertTrue(m.getMessage().contains("LOCATION is not a URL"), m.getMessage());
    }

    @Test
    void anOversizedDescription_isRefused() throws Exception {
        HttpServer s = http("<root>" + "x".repeat(Upnp.MAX_BODY + 1) + "</root>");
        PortMapException e = assertThrows(PortMapException.class, () -> new Upnp(Duration.ofSeconds(2))
                .service(URI.create("http://127.0.0.1:" + s.getAddress().getPort() + "/rootDesc.xml")));
        assertTrue(e.getMessage().contains("over " + Upnp.MAX_BODY), e.getMessage());
    }
}
