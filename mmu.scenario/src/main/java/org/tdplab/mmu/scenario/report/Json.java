package org.tdplab.mmu.scenario.report;

/** A small JSON text builder: strings escaped, no trailing commas. */
final class Json {
    private final StringBuilder sb = new StringBuilder();
    private boolean first = true;

    Json open(char c) {
        comma();
        sb.append(c);
        first = true;
        return this;
    }

    Json close(char c) {
        sb.append(c);
        first = false;
        return this;
    }

    Json key(String k) {
        comma();
        string(k);
        sb.append(':');
        first = true;
        return this;
    }

    Json value(Object v) {
        comma();
        if (v == null)
            sb.append("null");
        else if (v instanceof Number || v instanceof Boolean)
            sb.append(v);
        else
            string(v.toString());
        first = false;
        return this;
    }

    Json field(String k, Object v) {
        return key(k).value(v);
    }

    private void comma() {
        if (!first)
            sb.append(',');
        first = false;
    }

    private void string(String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
            case '"' -> sb.append("\\\"");
            case '\\' -> sb.append("\\\\");
            case '\n' -> sb.append("\\n");
            case '\r' -> sb.append("\\r");
            case '\t' -> sb.append("\\t");
            default -> {
                if (c < 0x20)
                    sb.append(String.format("\\u%04x", (int) c));
                else
                    sb.append(c);
            }
            }
        }
        sb.append('"');
    }

    @Override
    public String toString() {
        return sb.toString();
    }
}
