package holepunch;

/**
 * The jar's entry point, compiled for Java 8 so that an older {@code java} can run it far enough
 * to say what is wrong in one line, instead of an {@code UnsupportedClassVersionError}. On Java 25
 * or newer it hands over to {@code holepunch.Main}.
 */
public final class Launcher {
    static final int REQUIRED = 25;

    private Launcher() {
    }

    public static void main(String[] args) throws Throwable {
        String spec = System.getProperty("java.specification.version", "0");
        int feature;
        try {
            feature = Integer.parseInt(spec.startsWith("1.") ? spec.substring(2) : spec);
        } catch (NumberFormatException e) {
            feature = 0;
        }
        if (feature < REQUIRED) {
            System.err.println("holepunch needs Java " + REQUIRED + " or newer, but this is Java " + spec + " ("
                    + System.getProperty("java.home") + "): run it with a JDK " + REQUIRED
                    + " (for example /usr/lib/jvm/temurin-25-jdk-amd64/bin/java -jar holepunch.jar), or use ./run.sh, which finds one");
            System.exit(1);
        }
        try {
            Class.forName("holepunch.Main").getMethod("main", String[].class).invoke(null, (Object) args);
        } catch (java.lang.reflect.InvocationTargetException e) {
            throw e.getCause();
        }
    }
}
