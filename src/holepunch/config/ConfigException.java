package holepunch.config;

/** Bad or missing configuration; the message names the variable and what it must be. */
public final class ConfigException extends RuntimeException {
    public ConfigException(String message) {
        super(message, null, false, false);
    }
}
