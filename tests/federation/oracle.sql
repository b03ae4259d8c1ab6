-- The live Oracle suite's tables (tests/tests/e2e/oracle.rs), for the
-- schema of the user TRIBUTARY_TEST_ORACLE_URL names. Load with sqlplus:
--   sqlplus user/password@//host:port/service @tests/federation/oracle.sql
CREATE TABLE items (
  id NUMBER(10) PRIMARY KEY,
  name VARCHAR2(50),
  category VARCHAR2(10),
  qty NUMBER(10),
  price NUMBER(20, 6),
  score BINARY_DOUBLE,
  created DATE
);
INSERT INTO items VALUES (1, 'plain', 'a', 10, 12.5, 1.5, DATE '2024-03-10');
INSERT INTO items VALUES (2, 'it''s quoted', 'a', NULL, 0.000001, -2.25, DATE '2024-03-31');
INSERT INTO items VALUES (3, 'back\slash', 'b', 3, 99999999999999.999999, 0, DATE '2024-10-27');
INSERT INTO items VALUES (4, '100% sure', 'b', 0, -12.345678, 10000000000, NULL);
INSERT INTO items VALUES (5, 'under_score', NULL, 7, NULL, NULL, DATE '2000-02-29');
INSERT INTO items VALUES (6, 'Ünïcödé ✓ 日本', 'c', -4, 1.1, 3.25, DATE '1999-12-31');
INSERT INTO items VALUES (7, NULL, 'c', 2, 2.2, NULL, DATE '2024-11-03');
INSERT INTO items VALUES (8, NULL, 'a', 5, 3.3, 4.5, DATE '2024-02-29');
INSERT INTO items VALUES (9, 'UPPER lower', 'b', NULL, 4.4, -0.5, DATE '2023-03-26');
INSERT INTO items VALUES (10, 'trailing space ', 'd', 1, 5.5, 2.75, DATE '2024-01-01');
INSERT INTO items
SELECT level + 10, 'item' || (level + 10), CHR(97 + MOD(level + 10, 4)),
       CASE WHEN MOD(level + 10, 5) = 0 THEN NULL ELSE MOD(level + 10, 7) END,
       (level + 10) * 1.25, (level + 10) / 4.0, DATE '2024-01-01' + level + 10
FROM dual CONNECT BY level <= 50;
CREATE TABLE orders (order_id NUMBER(10) PRIMARY KEY, item_id NUMBER(10), amount NUMBER(12, 2));
INSERT INTO orders
SELECT level, CASE WHEN MOD(level, 9) = 0 THEN NULL ELSE MOD(level, 70) + 1 END, MOD(level, 13) * 3.5
FROM dual CONNECT BY level <= 300;
COMMIT;
