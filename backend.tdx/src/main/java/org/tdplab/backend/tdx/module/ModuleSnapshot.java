package org.tdplab.backend.tdx.module;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.ObjectStreamClass;
import java.io.UncheckedIOException;

/**
 * A {@link TdxModule}'s state as bytes for a bundle swap: Java serialization of the module, whose serialized fields
 * are the TDR, TDCS and TDVPS state, the {@link SeptTree} and the {@link Pamt}. Another bundle version reads it, so
 * the serialized classes keep their fields and serialVersionUIDs.
 */
final class ModuleSnapshot {
    private ModuleSnapshot() {
    }

    static byte[] write(TdxModule module) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(module);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    static TdxModule read(byte[] state) {
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(state)) {
            @Override
            protected Class<?> resolveClass(ObjectStreamClass desc) throws IOException, ClassNotFoundException {
                // this bundle's classes, never the departed one's
                return Class.forName(desc.getName(), false, TdxModule.class.getClassLoader());
            }
        }) {
            return (TdxModule) in.readObject();
        } catch (IOException | ClassNotFoundException e) {
            throw new IllegalArgumentException("the TDX module state in the snapshot cannot be read (not this "
                    + "backend's format, or damaged)", e);
        }
    }
}
