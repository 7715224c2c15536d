package holepunch.portmap;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A UPnP IGD client (UPnP Device Architecture 1.1 §1.3 for SSDP discovery; the WANIPConnection:1
 * and :2 and WANPPPConnection:1 services' {@code AddPortMapping}, {@code GetExternalIPAddress}
 * and {@code DeletePortMapping} actions over SOAP). Discovery asks the gateway itself and the SSDP
 * multicast group, and takes an answer only from the gateway; descriptions and SOAP answers are
 * read up to {@value #MAX_BODY} bytes, every exchange within its timeout.
 */
final class Upnp {
    static final InetSocketAddress SSDP = new InetSocketAddress("239.255.255.250", 1900);
    static final int MAX_BODY = 64 * 1024;
    static final String[] SERVICES = {
        "urn:schemas-upnp-org:service:WANIPConnection:2",
        "urn:schemas-upnp-org:service:WANIPConnection:1",
        "urn:schemas-upnp-org:service:WANPPPConnection:1",
    };

    /** An IGD's connection service: its type and the URL its actions go to. */
    record Service(String type, URI control) {
    }

    private final HttpClient http;
    private final Duration timeout;

    Upnp(Duration timeout) {
        this.timeout = timeout;
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(timeout).build();
    }

    /** M-SEARCH for an Internet Gateway Device; the LOCATION of the first answer from {@code gateway}. */
    URI discover(InetAddress gateway) throws IOException, PortMapException {
        return discover(gateway, SSDP.getPort());
    }

    /** As above, asking the gateway on {@code port} (1900 but in tests). */
    URI discover(InetAddress gateway, int port) throws IOException, PortMapException {
        String search = "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\n"
                + "ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\r\n";
        ByteBuffer out = ByteBuffer.wrap(search.getBytes(StandardCharsets.US_ASCII));
        try (DatagramChannel ch = DatagramChannel.open(StandardProtocolFamily.INET); Selector sel = Selector.open()) {
            ch.bind(new InetSocketAddress(0));
            ch.configureBlocking(false);
            ch.register(sel, SelectionKey.OP_READ);
            ch.send(out, new InetSocketAddress(gateway, port));
            try {
                ch.send(out.rewind(), SSDP);
            } catch (IOException noMulticastRoute) {
                // the gateway was asked directly
            }
            long end = System.nanoTime() + timeout.toNanos();
            ByteBuffer in = ByteBuffer.allocate(2048);
            while (true) {
                long left = (end - System.nanoTime()) / 1_000_000;
                if (left <= 0 || sel.select(left) == 0 && System.nanoTime() >= end) break;
                sel.selectedKeys().clear();
                in.clear();
                InetSocketAddress from = (InetSocketAddress) ch.receive(in);
                if (from == null || !from.getAddress().equals(gateway)) continue;
                String answer = new String(in.array(), 0, in.position(), StandardCharsets.US_ASCII);
                Matcher m = Pattern.compile("(?im)^location:\\s*(\\S+)\\s*$").matcher(answer);
                if (answer.startsWith("HTTP/1.1 200") && m.find()) {
                    URI location = uri(m.group(1), "LOCATION");
                    if (!gateway.getHostAddress().equals(location.getHost())) {
                        throw new PortMapException("UPnP: the gateway's SSDP answer points elsewhere (" + location.getHost() + ")");
                    }
                    return location;
                }
            }
        }
        throw new PortMapException("UPnP: no Internet Gateway Device answered SSDP within " + timeout.toMillis() + " ms");
    }

    /** {@code text} as a URI, or a PortMapException naming {@code what}: a malformed one must not end the port-mapping thread. */
    private static URI uri(String text, String what) throws PortMapException {
        try {
            URI u = URI.create(text);
            if (u.getHost() == null) throw new IllegalArgumentException("no host");
            return u;
        } catch (IllegalArgumentException e) {
            throw new PortMapException("UPnP: the gateway's " + what + " is not a URL (" + holepunch.log.Log.excerpt(text) + ")");
        }
    }

    private static int port(URI u) {
        return u.getPort() >= 0 ? u.getPort() : 80;
    }

    /** The first WAN connection service the device description at {@code location} lists. */
    Service service(URI location) throws IOException, InterruptedException, PortMapException {
        String xml = get(location);
        for (String type : SERVICES) {
            Matcher m = Pattern.compile("<service>(.*?)</service>", Pattern.DOTALL).matcher(xml);
            while (m.find()) {
                String block = m.group(1);
                if (!type.equals(tag(block, "serviceType"))) continue;
                String control = tag(block, "controlURL");
                if (control == null) continue;
                String base = tag(xml, "URLBase");
                URI control1;
                try {
                    control1 = (base == null || base.isBlank() ? location : uri(base.strip(), "URLBase")).resolve(control.strip());
                } catch (IllegalArgumentException e) {
                    throw new PortMapException("UPnP: the description's controlURL is not a URL");
                }
                // The SOAP calls go to the very server that gave the description: a neighbour that answered SSDP
                // in the gateway's name cannot steer them to another port of it (a Docker API on :2375, say).
                if (!location.getHost().equals(control1.getHost()) || port(location) != port(control1) || !"http".equals(control1.getScheme())) {
                    throw new PortMapException("UPnP: the control URL points away from the gateway's description server ("
                            + control1.getHost() + ":" + port(control1) + ", not " + location.getHost() + ":" + port(location) + ")");
                }
                return new Service(type, control1);
            }
        }
        throw new PortMapException("UPnP: " + location + " lists no WANIPConnection or WANPPPConnection service");
    }

    String externalAddress(Service s) throws IOException, InterruptedException, PortMapException {
        String ip = tag(soap(s, "GetExternalIPAddress", ""), "NewExternalIPAddress");
        if (ip == null || ip.isBlank()) throw new PortMapException("UPnP: GetExternalIPAddress gave no address");
        return ip.strip();
    }

    /** AddPortMapping for UDP {@code externalPort} to {@code client}:{@code internalPort}; lease 0 means until deleted. */
    void add(Service s, int externalPort, InetAddress client, int internalPort, long leaseSeconds) throws IOException, InterruptedException, PortMapException {
        soap(s, "AddPortMapping", "<NewRemoteHost></NewRemoteHost><NewExternalPort>" + externalPort + "</NewExternalPort>"
                + "<NewProtocol>UDP</NewProtocol><NewInternalPort>" + internalPort + "</NewInternalPort><NewInternalClient>"
                + client.getHostAddress() + "</NewInternalClient><NewEnabled>1</NewEnabled>"
                + "<NewPortMappingDescription>holepunch</NewPortMappingDescription><NewLeaseDuration>" + leaseSeconds + "</NewLeaseDuration>");
    }

    void delete(Service s, int externalPort) throws IOException, InterruptedException, PortMapException {
        soap(s, "DeletePortMapping", "<NewRemoteHost></NewRemoteHost><NewExternalPort>" + externalPort
                + "</NewExternalPort><NewProtocol>UDP</NewProtocol>");
    }

    /** A SOAP fault's UPnP error code (e.g. 718 ConflictInMappingEntry, 725 OnlyPermanentLeasesSupported). */
    static final class Fault extends PortMapException {
        final int code;

        Fault(String action, int code, String description) {
            super("UPnP: " + action + " failed with error " + code + (description == null ? "" : " (" + description + ")"));
            this.code = code;
        }
    }

    private String soap(Service s, String action, String arguments) throws IOException, InterruptedException, PortMapException {
        String body = "<?xml version=\"1.0\"?>\r\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" "
                + "s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body><u:" + action + " xmlns:u=\"" + s.type() + "\">"
                + arguments + "</u:" + action + "></s:Body></s:Envelope>\r\n";
        HttpRequest request = HttpRequest.newBuilder(s.control()).timeout(timeout)
                .header("Content-Type", "text/xml; charset=\"utf-8\"")
                .header("SOAPAction", "\"" + s.type() + "#" + action + "\"")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build();
        HttpResponse<java.io.InputStream> r = http.send(request, HttpResponse.BodyHandlers.ofInputStream());
        String answer = text(r.body());
        if (r.statusCode() != 200) {
            String code = tag(answer, "errorCode");
            int c = -1;
            try {
                c = code == null ? -1 : Integer.parseInt(code.strip());
            } catch (NumberFormatException ignored) {
                // not a UPnP error
            }
            if (c < 0) throw new PortMapException("UPnP: " + action + " answered HTTP " + r.statusCode());
            throw new Fault(action, c, tag(answer, "errorDescription"));
        }
        return answer;
    }

    private String get(URI location) throws IOException, InterruptedException, PortMapException {
        HttpResponse<java.io.InputStream> r = http.send(HttpRequest.newBuilder(location).timeout(timeout).build(),
                HttpResponse.BodyHandlers.ofInputStream());
        String body = text(r.body());
        if (r.statusCode() != 200) throw new PortMapException("UPnP: description " + location + " answered HTTP " + r.statusCode());
        return body;
    }

    /** At most {@value #MAX_BODY} bytes of an answer: a longer one is refused unread. */
    private static String text(java.io.InputStream in) throws IOException, PortMapException {
        try (in) {
            byte[] body = in.readNBytes(MAX_BODY + 1);
            if (body.length > MAX_BODY) throw new PortMapException("UPnP: an answer over " + MAX_BODY + " bytes");
            return new String(body, StandardCharsets.UTF_8);
        }
    }

    /** The text of the first {@code <name>} element (any namespace prefix), or null. */
    static String tag(String xml, String name) {
        Matcher m = Pattern.compile("<(?:\\w+:)?" + Pattern.quote(name) + "(?:\\s[^>]*)?>(.*?)</(?:\\w+:)?" + Pattern.quote(name) + ">",
                Pattern.DOTALL).matcher(xml);
        return m.find() ? m.group(1) : null;
    }
}
