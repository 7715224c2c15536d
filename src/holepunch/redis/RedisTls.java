package holepunch.redis;

import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocketFactory;
import javax.net.ssl.TrustManagerFactory;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;

/** TLS for {@code rediss://}: the JDK's trusted CAs, or only the CA certificates of a PEM file (REDIS_CA_FILE). */
public final class RedisTls {
    private RedisTls() {
    }

    /** A socket factory that trusts exactly the certificates in {@code pemFile} (e.g. Memorystore's server CA). */
    public static SSLSocketFactory trusting(Path pemFile) {
        try (InputStream in = Files.newInputStream(pemFile)) {
            KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
            store.load(null, null);
            int n = 0;
            for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(in)) store.setCertificateEntry("ca" + n++, c);
            if (n == 0) throw new IllegalArgumentException("REDIS_CA_FILE " + pemFile + " holds no certificate");
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(store);
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(null, tmf.getTrustManagers(), null);
            return ctx.getSocketFactory();
        } catch (IOException | GeneralSecurityException e) {
            throw new IllegalArgumentException("REDIS_CA_FILE " + pemFile + " cannot be read as PEM certificates: " + e.getMessage());
        }
    }
}
