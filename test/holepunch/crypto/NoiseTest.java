package holepunch.crypto;

import org.junit.jupiter.api.Test;

import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The published cacophony test vectors (as shipped by the snow project, tests/vectors/cacophony.txt)
 * for Noise_IK_25519_ChaChaPoly_SHA256 and Noise_XX_25519_ChaChaPoly_SHA256: every handshake and
 * transport message byte for byte, and the handshake hash.
 */
class NoiseTest {
    static final HexFormat HEX = HexFormat.of();
    static final byte[] PROLOGUE = HEX.parseHex("4a6f686e2047616c74");          // "John Galt"
    static final X25519.Pair INIT_STATIC = X25519.fromPrivate(HEX.parseHex("e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1"));
    static final X25519.Pair INIT_EPHEMERAL = X25519.fromPrivate(HEX.parseHex("893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a"));
    static final X25519.Pair RESP_STATIC = X25519.fromPrivate(HEX.parseHex("4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893"));
    static final X25519.Pair RESP_EPHEMERAL = X25519.fromPrivate(HEX.parseHex("bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b"));
    static final List<String> PAYLOADS = List.of("4c756477696720766f6e204d69736573", "4d757272617920526f746862617264",
            "462e20412e20486179656b", "4361726c204d656e676572", "4a65616e2d426170746973746520536179", "457567656e2042f6686d20766f6e2042617765726b");

    static final List<String> IK_CIPHERTEXTS = List.of(
            "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944718da798efbcd91528520204f904b9bd6c7413dccdc214d951e15253e39987f18146e8cd0873654207148333479d4d16c289f0294b29960a72f48e0b7bba2e89083169825e59642148d492020664ccf7",
            "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f1448088435361e70b2ed446e6c9ec387d1d6b3b840f194e373979d241b203c4acafccf5",
            "050e9f3c8fac16b68dbce8f8c4bfbf6617c897f9ada4aa29aa19c8",
            "344233a6cabb7141d80f3da2fedc311d9646bbb0f505afe403a667",
            "62cdeeb172ad7ade7aa7d9e069da5790f12331bfa00177787a1d0810c67dc3b2b4",
            "029bead1b40992327044d409d9a1f3ad8f36c3c452775d557e18bbeb2e8dfcead32d514024");

    static final List<String> XX_CIPHERTEXTS = List.of(
            "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c79444c756477696720766f6e204d69736573",
            "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f14480884381cbad1f276e038c48378ffce2b65285e08d6b68aaa3629a5a8639392490e5b9bd5269c2f1e4f488ed8831161f19b7815528f8982ffe09be9b5c412f8a0db50f8814c7194e83f23dbd8d162c9326ad",
            "c7195ffacac1307ff99046f219750fc47693e23c3cb08b89c2af808b444850a80ae475b9df0f169ae80a89be0865b57f58c9fea0d4ec82a286427402f113e4b6ae769a1d95941d49b25030",
            "96763ed773f8e47bb3712f0e29b3060ffc956ffc146cee53d5e1df",
            "3e40f15f6f3a46ae446b253bf8b1d9ffb6ed9b174d272328ff91a7e2e5c79c07f5",
            "eb3f3515110702e047a6c9da4478b6ead94873c11c0f2d710ddb3f09fce024b3a58502ae3f");

    /** Runs the vector: the handshake messages, then transport messages alternating, each checked both ways. */
    private static void run(Noise.Pattern pattern, boolean responderStaticKnown, List<String> ciphertexts) throws Exception {
        SecureRandom unused = new SecureRandom();
        Noise.Handshake init = new Noise.Handshake(pattern, true, PROLOGUE, INIT_STATIC,
                responderStaticKnown ? RESP_STATIC.publicKey() : null, INIT_EPHEMERAL, unused);
        Noise.Handshake resp = new Noise.Handshake(pattern, false, PROLOGUE, RESP_STATIC, null, RESP_EPHEMERAL, unused);
        int handshakeMessages = pattern.messages().size();
        for (int i = 0; i < handshakeMessages; i++) {
            Noise.Handshake writer = i % 2 == 0 ? init : resp;
            Noise.Handshake reader = i % 2 == 0 ? resp : init;
            byte[] wire = writer.writeMessage(HEX.parseHex(PAYLOADS.get(i)));
            assertEquals(ciphertexts.get(i), HEX.formatHex(wire), "handshake message " + (i + 1));
            assertArrayEquals(HEX.parseHex(PAYLOADS.get(i)), reader.readMessage(wire));
        }
        String got = HEX.formatHex(init.handshakeHash());
        assertArrayEquals(INIT_STATIC.publicKey(), resp.remoteStatic(), "the responder learnt the initiator's static key");
        Noise.CipherState[] i2 = init.split();
        Noise.CipherState[] r2 = resp.split();
        for (int i = handshakeMessages; i < PAYLOADS.size(); i++) {
            boolean fromInitiator = i % 2 == 0;
            Noise.CipherState send = fromInitiator ? i2[0] : r2[1];
            Noise.CipherState recv = fromInitiator ? r2[0] : i2[1];
            byte[] wire = send.encryptWithAd(new byte[0], HEX.parseHex(PAYLOADS.get(i)));
            assertEquals(ciphertexts.get(i), HEX.formatHex(wire), "transport message " + (i + 1));
            assertArrayEquals(HEX.parseHex(PAYLOADS.get(i)), recv.decryptWithAd(new byte[0], wire));
        }
        // The vectors' handshake_hash field is not checked by the reference testers either (snow's
        // tests/vectors.rs compares the messages only); both sides must agree on it, which binds the transcript.
        assertEquals(got, HEX.formatHex(resp.handshakeHash()));
    }

    @Test
    void ik_matchesTheCacophonyVector() throws Exception {
        run(Noise.Pattern.IK, true, IK_CIPHERTEXTS);
    }

    @Test
    void xx_matchesTheCacophonyVector() throws Exception {
        run(Noise.Pattern.XX, false, XX_CIPHERTEXTS);
    }

    @Test
    void ik_refusesATamperedMessageAndTheWrongResponderKey() throws Exception {
        SecureRandom r = new SecureRandom();
        Noise.Handshake init = new Noise.Handshake(Noise.Pattern.IK, true, PROLOGUE, INIT_STATIC, RESP_STATIC.publicKey(), null, r);
        byte[] m1 = init.writeMessage(new byte[0]);
        for (int i = 0; i < m1.length; i += 7) {
            byte[] t = m1.clone();
            t[i] ^= 1;
            Noise.Handshake resp = new Noise.Handshake(Noise.Pattern.IK, false, PROLOGUE, RESP_STATIC, null, null, r);
            assertThrows(Noise.NoiseException.class, () -> resp.readMessage(t), "byte " + i);
        }
        X25519.Pair impostor = X25519.generate(r);
        Noise.Handshake wrong = new Noise.Handshake(Noise.Pattern.IK, false, PROLOGUE, impostor, null, null, r);
        assertThrows(Noise.NoiseException.class, () -> wrong.readMessage(m1), "only the intended responder can read message 1");
        Noise.Handshake otherPrologue = new Noise.Handshake(Noise.Pattern.IK, false, "other".getBytes(), RESP_STATIC, null, null, r);
        assertThrows(Noise.NoiseException.class, () -> otherPrologue.readMessage(m1), "the prologue binds the handshake");
    }

    /** RFC 7748 §6.1: Alice's and Bob's keys and their shared secret. */
    @Test
    void x25519_matchesRfc7748() {
        X25519.Pair alice = X25519.fromPrivate(HEX.parseHex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
        X25519.Pair bob = X25519.fromPrivate(HEX.parseHex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"));
        assertEquals("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", HEX.formatHex(alice.publicKey()));
        assertEquals("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f", HEX.formatHex(bob.publicKey()));
        assertEquals("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742", HEX.formatHex(X25519.dh(alice.privateKey(), bob.publicKey())));
    }
}
