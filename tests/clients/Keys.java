// pgjdbc's key metadata (DBeaver's and Tableau's join suggestions, ER
// diagrams) for database sources. Prints one line per check; the Rust test
// compares them.
import java.sql.*;
import java.util.*;

public class Keys {
    interface Row { String of(ResultSet rs) throws SQLException; }

    static String rows(ResultSet rs, Row row) throws SQLException {
        List<String> values = new ArrayList<>();
        while (rs.next()) values.add(row.of(rs));
        return String.join(" ", values);
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/tributary";
        Row primary = rs -> rs.getString("COLUMN_NAME") + ":" + rs.getInt("KEY_SEQ") + ":" + rs.getString("PK_NAME");
        Row imported = rs -> rs.getString("FKCOLUMN_NAME") + "->" + rs.getString("PKTABLE_SCHEM") + "."
            + rs.getString("PKTABLE_NAME") + "." + rs.getString("PKCOLUMN_NAME") + ":" + rs.getInt("KEY_SEQ")
            + ":" + rs.getString("FK_NAME") + ":" + rs.getString("PK_NAME");
        Row exported = rs -> rs.getString("FKTABLE_NAME") + "." + rs.getString("FKCOLUMN_NAME");
        try (Connection c = DriverManager.getConnection(url, "tributary", "")) {
            DatabaseMetaData m = c.getMetaData();
            System.out.println("pg lines primary: " + rows(m.getPrimaryKeys(null, "pg", "lines"), primary));
            System.out.println("pg Orders primary: " + rows(m.getPrimaryKeys(null, "pg", "Orders"), primary));
            System.out.println("pg lines imported: " + rows(m.getImportedKeys(null, "pg", "lines"), imported));
            System.out.println("pg customers exported: " + rows(m.getExportedKeys(null, "pg", "customers"), exported));
            System.out.println("my orders primary: " + rows(m.getPrimaryKeys(null, "my", "orders"), primary));
            System.out.println("my orders imported: " + rows(m.getImportedKeys(null, "my", "orders"), imported));
            System.out.println("pg customers indexes: " + rows(m.getIndexInfo(null, "pg", "customers", false, false),
                rs -> rs.getString("INDEX_NAME") + ":" + rs.getString("COLUMN_NAME") + ":" + rs.getBoolean("NON_UNIQUE")));
        }
    }
}
