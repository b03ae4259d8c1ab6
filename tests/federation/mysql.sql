-- The federation test data, MariaDB side: the same rows as postgres.sql.
SET time_zone = '+00:00';
SET sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES');
CREATE TABLE items (
  id integer PRIMARY KEY,
  name varchar(50),
  category varchar(10),
  qty integer,
  price decimal(20,6),
  score double,
  flag boolean,
  created date,
  updated datetime,
  updated_tz timestamp NULL
);
INSERT INTO items VALUES
 (1, 'plain', 'a', 10, 12.5, 1.5, true, '2024-03-10', '2024-03-10 01:30:00', '2024-03-10 06:30:00'),
 (2, 'it''s quoted', 'a', NULL, 0.000001, -2.25, false, '2024-03-31', '2024-03-31 02:30:00', '2024-03-31 01:30:00'),
 (3, 'back\slash', 'b', 3, 99999999999999.999999, 0, NULL, '2024-10-27', '2024-10-27 02:30:00', '2024-10-27 00:30:00'),
 (4, '100% sure', 'b', 0, -12.345678, 10000000000, true, NULL, NULL, NULL),
 (5, 'under_score', NULL, 7, NULL, NULL, false, '2000-02-29', '2000-02-29 23:59:59', '2000-02-29 23:59:59'),
 (6, 'Ünïcödé ✓ 日本', 'c', -4, 1.1, 3.25, true, '1999-12-31', '1999-12-31 00:00:00', '1999-12-31 12:00:00'),
 (7, '', 'c', 2, 2.2, NULL, NULL, '2024-11-03', '2024-11-03 01:30:00', '2024-11-03 05:30:00'),
 (8, NULL, 'a', 5, 3.3, 4.5, false, '2024-02-29', '2024-02-29 12:00:00', '2024-02-29 12:00:00'),
 (9, 'UPPER lower', 'b', NULL, 4.4, -0.5, true, '2023-03-26', '2023-03-26 02:15:00', '2023-03-26 01:15:00'),
 (10, 'trailing space ', 'd', 1, 5.5, 2.75, true, '2024-01-01', '2024-01-01 00:00:00', '2024-01-01 00:00:00');
INSERT INTO items
SELECT seq, CONCAT('item', seq), CHAR(97 + seq % 4), CASE WHEN seq % 5 = 0 THEN NULL ELSE seq % 7 END,
       seq * 1.25, seq / 4.0, seq % 2 = 0, DATE '2024-01-01' + INTERVAL seq DAY,
       TIMESTAMP '2024-01-01 08:00:00' + INTERVAL (seq * 7) HOUR,
       TIMESTAMP '2024-01-01 08:00:00' + INTERVAL (seq * 7) HOUR
FROM seq_11_to_60;

CREATE TABLE orders (
  order_id integer PRIMARY KEY,
  item_id integer,
  amount decimal(12,2),
  placed date,
  note text
);
INSERT INTO orders
SELECT seq, CASE WHEN seq % 9 = 0 THEN NULL ELSE seq % 70 + 1 END, (seq % 13) * 3.5,
       DATE '2024-02-01' + INTERVAL (seq % 30) DAY, CASE WHEN seq % 4 = 0 THEN NULL ELSE CONCAT('n', seq % 3) END
FROM seq_1_to_300;

CREATE TABLE MixedCase (Id integer, Value text, lower_col integer);
INSERT INTO MixedCase VALUES (1, 'one', 10), (2, 'two', NULL), (3, NULL, 30);
