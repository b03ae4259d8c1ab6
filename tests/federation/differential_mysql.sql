-- Differential queries on MySQL's own types (types_mysql.sql), pushed
-- ({s} = my) and local ({s} = my_local). Same rules as differential.sql.
SELECT * FROM {s}.types;
SELECT id FROM {s}.types WHERE c_bigint_unsigned > 18446744073709551610;
SELECT id FROM {s}.types WHERE c_int_unsigned = 4294967295;
SELECT id FROM {s}.types WHERE c_tinyint_unsigned > 200;
SELECT id FROM {s}.types WHERE c_bit = 10;
SELECT id FROM {s}.types WHERE c_enum = 'happy';
SELECT id FROM {s}.types WHERE c_zero_date IS NULL;
SELECT id FROM {s}.types WHERE c_zero_datetime IS NULL;
SELECT id FROM {s}.types WHERE c_zero_date IS NOT NULL;
SELECT id FROM {s}.types WHERE c_datetime6 > TIMESTAMP '2024-03-10 02:30:00.1';
SELECT id FROM {s}.types WHERE c_timestamp = TIMESTAMP '2024-03-10 07:30:00';
SELECT id FROM {s}.types WHERE c_blob IS NOT NULL;
SELECT id FROM {s}.types WHERE c_decimal > 123456789012345678;
SELECT id FROM {s}.types WHERE c_float = 1.5;
SELECT id FROM {s}.types WHERE c_time > TIME '12:00:00';
SELECT count(c_json), max(c_date), sum(c_int_unsigned), sum(c_bigint_unsigned) FROM {s}.types;
