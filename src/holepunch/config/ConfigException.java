package holepunch.config;

/** Bad or missing configuration; the message names the variable and what it must be. */
public final class ConfigException extends RuntimeException {
    public ConfigException(String message) {
        super(message, null, false, false);
    }

    /**
     * A port that cannot be bound, named with the variable that sets it: {@code e} from the bind,
     * {@code protocol} "TCP" or "UDP". Startup fails with exit status 2 and this one line.
     */
    public static ConfigException cannotBind(String protocol, String host, int port, String variable, java.io.IOException e) {
        String where = protocol + " port " + port + (host == null || host.isEmpty() || host.equals("0.0.0.0") ? "" : " on " + host);
        String why = e instanceof java.net.BindException && String.valueOf(e.getMessage()).contains("in use")
                ? "is already in use by another program" : "cannot be bound (" + e.getMessage() + ")";
        return new ConfigException(where + " (" + variable + ") " + why + "; set " + variable + " to a free port");
    }
}
