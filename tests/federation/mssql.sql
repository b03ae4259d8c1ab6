-- The federation test data for a real SQL Server (TRIBUTARY_TEST_MSSQL_URL):
-- the tables pysqlbridge serves from CSV (tests/e2e/mssql/data.rs), with
-- SQL Server's own types, and a table of every type. Batches end with GO.
IF OBJECT_ID('dbo.items') IS NOT NULL DROP TABLE dbo.items;
IF OBJECT_ID('dbo.orders') IS NOT NULL DROP TABLE dbo.orders;
IF OBJECT_ID('dbo.MixedCase') IS NOT NULL DROP TABLE dbo.MixedCase;
IF OBJECT_ID('dbo.big') IS NOT NULL DROP TABLE dbo.big;
IF OBJECT_ID('dbo.types') IS NOT NULL DROP TABLE dbo.types;
GO
CREATE TABLE dbo.items (
  id int PRIMARY KEY,
  name nvarchar(50),
  category nvarchar(10),
  qty int,
  price float,
  score float,
  flag int,
  created nvarchar(10)
);
INSERT INTO dbo.items VALUES
 (1, N'plain', N'a', 10, 12.5, 1.5, 1, N'2024-03-10'),
 (2, N'it''s quoted', N'a', NULL, 0.5, -2.25, 0, N'2024-03-31'),
 (3, N'back\slash', N'b', 3, 99999999.5, 0, NULL, N'2024-10-27'),
 (4, N'100% sure', N'b', 0, -12.25, 10000000000.5, 1, NULL),
 (5, N'under_score', NULL, 7, NULL, NULL, 0, N'2000-02-29'),
 (6, N'Ünïcödé ✓ 日本', N'c', -4, 1.1, 3.25, 1, N'1999-12-31'),
 (7, NULL, N'c', 2, 2.2, NULL, NULL, N'2024-11-03'),
 (8, NULL, N'a', 5, 3.3, 4.5, 0, N'2024-02-29'),
 (9, N'UPPER lower', N'b', NULL, 4.4, -0.5, 1, N'2023-03-26'),
 (10, N'trailing space ', N'd', 1, 5.5, 2.75, 1, N'2024-01-01');
WITH seq(n) AS (SELECT 11 UNION ALL SELECT n + 1 FROM seq WHERE n < 60)
INSERT INTO dbo.items
SELECT n, CONCAT(N'item', n), NCHAR(97 + n % 4), CASE WHEN n % 5 = 0 THEN NULL ELSE n % 7 END,
       n * 1.25, n / 4.0, CASE WHEN n % 2 = 0 THEN 1 ELSE 0 END,
       CONVERT(nvarchar(10), DATEADD(day, n, CAST('2024-01-01' AS date)), 23)
FROM seq;
GO
CREATE TABLE dbo.orders (order_id int PRIMARY KEY, item_id int, amount float, placed nvarchar(10), note nvarchar(10));
WITH seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 300)
INSERT INTO dbo.orders
SELECT n, CASE WHEN n % 9 = 0 THEN NULL ELSE n % 70 + 1 END, (n % 13) * 3.5,
       CONVERT(nvarchar(10), DATEADD(day, 31 + n % 30, CAST('2024-01-01' AS date)), 23),
       CASE WHEN n % 4 = 0 THEN NULL ELSE CONCAT(N'n', n % 3) END
FROM seq OPTION (MAXRECURSION 1000);
GO
CREATE TABLE dbo.MixedCase (Id int, Value nvarchar(10), lower_col int);
INSERT INTO dbo.MixedCase VALUES (1, N'one', 10), (2, N'two', NULL), (3, NULL, 30);
GO
CREATE TABLE dbo.big (id int, v int, label nvarchar(20), w bigint);
WITH seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 20000)
INSERT INTO dbo.big SELECT n, n * 3 % 1000, CONCAT(N'row ', n), CAST(n AS bigint) * 1000000 FROM seq OPTION (MAXRECURSION 0);
GO
CREATE TABLE dbo.types (
  id int PRIMARY KEY,
  c_tinyint tinyint, c_smallint smallint, c_int int, c_bigint bigint,
  c_bit bit, c_decimal decimal(20, 6), c_numeric numeric(5, 0), c_money money, c_smallmoney smallmoney,
  c_float float, c_real real,
  c_char char(4), c_varchar varchar(20), c_nvarchar nvarchar(20), c_text text, c_ntext ntext,
  c_binary binary(2), c_varbinary varbinary(10),
  c_date date, c_time time(7), c_datetime datetime, c_datetime2 datetime2(7),
  c_datetimeoffset datetimeoffset(7), c_smalldatetime smalldatetime,
  c_uniqueidentifier uniqueidentifier, c_xml xml
);
INSERT INTO dbo.types VALUES
 (1, 255, -32768, -2147483648, 9223372036854775807,
  1, 12345678901234.123456, 99999, 123456.7891, -214748.3648,
  1.5, 0.25,
  'ab', 'text', N'日本', 'long text', N'long ntext',
  0x0102, 0xDEADBEEF,
  '2024-02-29', '23:59:59.1234567', '2024-02-29 12:34:56.997', '0001-01-01 00:00:00.1234567',
  '2024-02-29 12:00:00.5 +02:00', '2024-02-29 12:34:00',
  '6F9619FF-8B86-D011-B42D-00C04FC964FF', '<a>1</a>'),
 (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
