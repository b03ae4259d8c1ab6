// pgjdbc against Tributary, with the driver's default settings (extended
// protocol; binary transfer once a statement is server-prepared, after five
// executions). Prints one line per check; the Rust test compares them.
import java.math.BigDecimal;
import java.sql.*;
import java.util.*;

public class Check {
    static String column(ResultSet rs, String name) throws SQLException {
        List<String> values = new ArrayList<>();
        while (rs.next()) values.add(rs.getString(name));
        return String.join(",", values);
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/tributary";
        try (Connection c = DriverManager.getConnection(url, "tributary", "")) {
            DatabaseMetaData m = c.getMetaData();
            System.out.println("product: " + m.getDatabaseProductName() + " " + m.getDatabaseMajorVersion());
            System.out.println("catalogs: " + column(m.getCatalogs(), "TABLE_CAT"));
            System.out.println("schemas: " + column(m.getSchemas(), "TABLE_SCHEM"));
            System.out.println("tables: " + column(m.getTables(null, "sample", "%", new String[] {"TABLE"}), "TABLE_NAME"));
            List<String> columns = new ArrayList<>();
            try (ResultSet rs = m.getColumns(null, "sample", "orders", "%")) {
                while (rs.next()) {
                    String size = rs.getInt("DATA_TYPE") == Types.NUMERIC
                        ? "(" + rs.getInt("COLUMN_SIZE") + "," + rs.getInt("DECIMAL_DIGITS") + ")" : "";
                    columns.add(rs.getString("COLUMN_NAME") + " " + rs.getString("TYPE_NAME") + size + " "
                        + rs.getInt("DATA_TYPE") + " " + rs.getString("IS_NULLABLE") + " " + rs.getInt("ORDINAL_POSITION"));
                }
            }
            System.out.println("columns: " + String.join("; ", columns));
            System.out.println("primary keys: " + column(m.getPrimaryKeys(null, "sample", "orders"), "COLUMN_NAME"));

            try (PreparedStatement p = c.prepareStatement(
                    "SELECT order_id, amount, order_date, status FROM sample.orders "
                    + "WHERE order_id < ? AND status = ? AND amount > ? AND order_date >= ? ORDER BY order_id LIMIT 3")) {
                p.setLong(1, 100);
                p.setString(2, "shipped");
                p.setBigDecimal(3, new BigDecimal("1.5"));
                p.setDate(4, java.sql.Date.valueOf("2024-01-01"));
                for (int run = 1; run <= 6; run++) {
                    List<String> rows = new ArrayList<>();
                    try (ResultSet rs = p.executeQuery()) {
                        while (rs.next()) {
                            rows.add(rs.getLong(1) + "," + rs.getBigDecimal(2) + "," + rs.getDate(3) + "," + rs.getString(4));
                        }
                    }
                    System.out.println("prepared run " + run + ": " + String.join("|", rows));
                }
            }

            try (Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery("SELECT order_id, customer_id, order_date, status, quantity, amount FROM sample.orders LIMIT 1")) {
                ResultSetMetaData md = rs.getMetaData();
                List<String> types = new ArrayList<>();
                for (int i = 1; i <= md.getColumnCount(); i++) {
                    types.add(md.getColumnName(i) + ":" + md.getColumnTypeName(i) + ":" + md.getColumnType(i));
                }
                System.out.println("result types: " + String.join(",", types));
            }

            try (Statement s = c.createStatement()) {
                s.executeUpdate("INSERT INTO sample.orders (order_id) VALUES (1)");
                System.out.println("write: accepted");
            } catch (SQLException e) {
                System.out.println("write: " + e.getSQLState());
            }
        }
    }
}
