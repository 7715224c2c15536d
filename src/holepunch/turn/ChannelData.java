package holepunch.turn;

import java.nio.ByteBuffer;

/**
 * A ChannelData message (RFC 8656 §12.4): a channel number from 0x4000 to 0x4FFF, a length, then
 * the application data; over UDP nothing pads it. The first two bits (01) tell it apart from STUN
 * (00) on the same socket (RFC 7983).
 */
public final class ChannelData {
    public static final int HEADER = 4;
    public static final int MIN_CHANNEL = 0x4000, MAX_CHANNEL = 0x4FFF;

    private ChannelData() {
    }

    /** Whether {@code datagram} is shaped like ChannelData: a channel in range and a length that fits. */
    public static boolean looksLike(ByteBuffer datagram) {
        int p = datagram.position(), n = datagram.remaining();
        if (n < HEADER) return false;
        int channel = datagram.getShort(p) & 0xFFFF;
        int len = datagram.getShort(p + 2) & 0xFFFF;
        return channel >= MIN_CHANNEL && channel <= MAX_CHANNEL && len <= n - HEADER;
    }

    public static int channel(ByteBuffer datagram) {
        return datagram.getShort(datagram.position()) & 0xFFFF;
    }

    public static int length(ByteBuffer datagram) {
        return datagram.getShort(datagram.position() + 2) & 0xFFFF;
    }

    /** Writes the header for {@code length} bytes of data on {@code channel}. */
    public static void header(ByteBuffer out, int channel, int length) {
        out.putShort((short) channel).putShort((short) length);
    }
}
