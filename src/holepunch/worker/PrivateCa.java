package holepunch.worker;

import holepunch.config.ConfigException;

import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.Collection;

/**
 * {@code RENDEZVOUS_CA_FILE} (and {@code TURN_CA_FILE}, for {@code turns:} servers): the certificate authorities (PEM) of a rendezvous behind TLS with a
 * private CA, trusted for the rendezvous connection only and added to the JDK's own (so a public CA
 * still works there, and nothing else the process does trusts the private one). Host names are
 * checked as always. A file that holds no certificate stops the start, naming the variable.
 */
final class PrivateCa {
    private PrivateCa() {
    }

    /** An SSL context trusting the JDK's CAs and those in {@code pem} (RENDEZVOUS_CA_FILE). */
    static SSLContext context(Path pem) {
        return context(pem, "RENDEZVOUS_CA_FILE");
    }

    /** As above, for the setting {@code variable} (named in every error). */
    static SSLContext context(Path pem, String variable) {
        Collection<? extends Certificate> added;
        try (InputStream in = Files.newInputStream(pem)) {
            added = CertificateFactory.getInstance("X.509").generateCertificates(in);
        } catch (java.io.IOException e) {
            throw new ConfigException(variable + " " + pem + " cannot be read: " + e.getMessage());
        } catch (java.security.cert.CertificateException e) {
            throw new ConfigException(variable + " " + pem + " is not PEM certificates: " + e.getMessage());
        }
        if (added.isEmpty()) throw new ConfigException(variable + " " + pem + " holds no certificate (expected PEM, -----BEGIN CERTIFICATE-----)");
        try {
            KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
            store.load(null, null);
            TrustManagerFactory jdk = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            jdk.init((KeyStore) null);                                   // the JDK's own anchors
            int n = 0;
            for (javax.net.ssl.TrustManager tm : jdk.getTrustManagers()) {
                if (tm instanceof javax.net.ssl.X509TrustManager x) {
                    for (X509Certificate c : x.getAcceptedIssuers()) store.setCertificateEntry("jdk-" + n++, c);
                }
            }
            int i = 0;
            for (Certificate c : added) store.setCertificateEntry("rendezvous-ca-" + i++, c);
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(store);
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(null, tmf.getTrustManagers(), null);
            return ctx;
        } catch (java.security.GeneralSecurityException | java.io.IOException e) {
            throw new ConfigException(variable + " " + pem + " cannot be used: " + e.getMessage());
        }
    }
}
