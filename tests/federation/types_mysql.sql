-- Every MySQL/MariaDB type docs/types.md lists, one row of values and one of
-- NULLs. Zero dates need a lenient sql_mode.
SET sql_mode = 'NO_BACKSLASH_ESCAPES';
SET time_zone = '+00:00';
CREATE TABLE types (
  id int PRIMARY KEY,
  c_tinyint tinyint, c_tinyint_unsigned tinyint unsigned, c_smallint smallint, c_smallint_unsigned smallint unsigned,
  c_mediumint mediumint, c_int int, c_int_unsigned int unsigned, c_bigint bigint, c_bigint_unsigned bigint unsigned,
  c_decimal decimal(38,10), c_float float, c_double double, c_bool boolean,
  c_varchar varchar(20), c_char char(5), c_text text, c_blob blob, c_varbinary varbinary(10),
  c_date date, c_time time, c_datetime datetime, c_datetime6 datetime(6), c_timestamp timestamp NULL,
  c_json json, c_enum enum('sad', 'ok', 'happy'), c_set set('a', 'b'), c_bit bit(4),
  c_zero_date date, c_zero_datetime datetime
);
INSERT INTO types VALUES
 (1, -128, 255, -32768, 65535, -8388608, -2147483648, 4294967295, -9223372036854775808, 18446744073709551615,
  123456789012345678.0123456789, 1.5, 2.718281828459045, true,
  'varchar', 'ab', 'text ''q'' \ é', x'deadbeef', x'0102',
  '2024-02-29', '23:59:59', '2024-03-10 02:30:00', '2024-03-10 02:30:00.123456', '2024-03-10 07:30:00',
  '{"a": [1, 2]}', 'happy', 'a,b', b'1010', '0000-00-00', '0000-00-00 00:00:00'),
 (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
-- No Arrow mapping: reading this table fails, naming the column.
CREATE TABLE years (id int, c_year year);
INSERT INTO years VALUES (1, 2024);
