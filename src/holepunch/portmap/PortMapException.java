package holepunch.portmap;

/** A port-mapping exchange that failed: the message says which protocol, and why, in one line. */
public class PortMapException extends Exception {
    public PortMapException(String message) {
        super(message);
    }
}
