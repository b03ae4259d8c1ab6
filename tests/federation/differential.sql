-- Queries the differential test runs on each database twice: through a
-- source with pushdown ({s} = pg, my) and one without ({s} = pg_local,
-- my_local), requiring identical rows. {c} is the same source written as
-- catalog.schema. A result is compared in order when the query ends with
-- ORDER BY, as a sorted multiset otherwise. One query per statement.
-- {flag} is the boolean column as a condition (MySQL's BOOLEAN is a
-- TINYINT(1), an integer).

-- projections and every column
SELECT * FROM {s}.items;
SELECT id, name FROM {s}.items;
SELECT name, id, name AS again FROM {s}.items;
SELECT * FROM {c}.items WHERE id <= 10;
SELECT "Id", "Value", lower_col FROM {s}."MixedCase";
SELECT "Value" FROM {s}."MixedCase" WHERE "Id" > 1;
SELECT m."Id" + 1 AS next_id FROM {s}."MixedCase" AS m WHERE m."Value" IS NOT NULL;

-- filters and NULLs in every position
SELECT id FROM {s}.items WHERE qty > 3;
SELECT id FROM {s}.items WHERE qty IS NULL;
SELECT id FROM {s}.items WHERE qty IS NOT NULL AND qty <> 5;
SELECT id FROM {s}.items WHERE NOT (qty > 3);
SELECT id FROM {s}.items WHERE qty > 3 OR category IS NULL;
SELECT id FROM {s}.items WHERE category = 'a' AND (qty < 3 OR qty IS NULL);
SELECT id, coalesce(qty, -1) FROM {s}.items;
SELECT id FROM {s}.items WHERE coalesce(category, 'none') = 'none';
SELECT id, nullif(qty, 0) FROM {s}.items WHERE id < 12;
SELECT id, CASE WHEN qty IS NULL THEN 'unknown' WHEN qty > 4 THEN 'many' ELSE 'few' END FROM {s}.items;
SELECT id FROM {s}.items WHERE {flag};
SELECT id FROM {s}.items WHERE NOT {flag};
SELECT id FROM {s}.items WHERE flag IS NULL;
SELECT id FROM {s}.items WHERE price BETWEEN 2 AND 5;
SELECT id FROM {s}.items WHERE score >= 3.25;
SELECT id FROM {s}.items WHERE score < 0;
SELECT id FROM {s}.items WHERE id % 7 = 3;

-- strings: quotes, backslashes, LIKE wildcards, Unicode, empty vs NULL
SELECT id FROM {s}.items WHERE name = 'it''s quoted';
SELECT id FROM {s}.items WHERE name = 'back\slash';
SELECT id FROM {s}.items WHERE name LIKE '%\%%';
SELECT id FROM {s}.items WHERE name LIKE '100%';
SELECT id FROM {s}.items WHERE name LIKE '%\_%';
SELECT id FROM {s}.items WHERE name LIKE 'under_score';
SELECT id FROM {s}.items WHERE name LIKE 'item1_';
SELECT id FROM {s}.items WHERE name NOT LIKE 'item%';
SELECT id FROM {s}.items WHERE name ILIKE 'upper%';
SELECT id FROM {s}.items WHERE name = 'Ünïcödé ✓ 日本';
SELECT id FROM {s}.items WHERE name LIKE '%日本';
SELECT id FROM {s}.items WHERE name = '';
SELECT id FROM {s}.items WHERE name IS NULL;
SELECT id FROM {s}.items WHERE name <> '';
SELECT id, length(name) FROM {s}.items WHERE id <= 10;
SELECT id, upper(name), lower(name) FROM {s}.items WHERE id <= 10;
SELECT id, name || '!' FROM {s}.items WHERE id <= 10;
SELECT id, substr(name, 2, 3) FROM {s}.items WHERE id <= 10;
SELECT id FROM {s}.items WHERE name = 'trailing space';
SELECT id FROM {s}.items WHERE name = 'trailing space ';
SELECT id, trim(name) FROM {s}.items WHERE id = 10;
SELECT id FROM {s}.items WHERE name > 'item5';
SELECT id FROM {s}.items WHERE name IN ('plain', '', 'it''s quoted');
SELECT id, CASE WHEN qty > 3 THEN 'big "one"' ELSE 'small' END FROM {s}.items;

-- dates and timestamps, around DST changes
SELECT id, created FROM {s}.items WHERE created >= DATE '2024-03-01';
SELECT id FROM {s}.items WHERE created = DATE '2000-02-29';
SELECT id, updated FROM {s}.items WHERE updated BETWEEN TIMESTAMP '2024-03-10 00:00:00' AND TIMESTAMP '2024-03-10 03:00:00';
SELECT id, updated FROM {s}.items WHERE updated > TIMESTAMP '2024-10-27 01:00:00' AND updated < TIMESTAMP '2024-10-27 04:00:00';
SELECT id, updated_tz FROM {s}.items WHERE id <= 10;
SELECT id FROM {s}.items WHERE updated_tz >= TIMESTAMPTZ '2024-03-31 01:00:00+00' AND updated_tz < TIMESTAMPTZ '2024-03-31 02:00:00+00';
SELECT id FROM {s}.items WHERE updated_tz < TIMESTAMPTZ '2024-11-03 06:00:00+01';
SELECT id, extract(year FROM created), extract(month FROM created) FROM {s}.items;
SELECT id, date_trunc('month', updated) FROM {s}.items WHERE id > 50;
SELECT id, created + INTERVAL '1 day' FROM {s}.items WHERE id <= 10;
SELECT id FROM {s}.items WHERE created IS NULL;
SELECT max(updated), min(updated), max(updated_tz) FROM {s}.items;

-- numerics with large precision
SELECT id, price FROM {s}.items;
SELECT sum(price), avg(price), min(price), max(price) FROM {s}.items;
SELECT id, price * 2, price + 0.000001 FROM {s}.items WHERE id <= 10;
SELECT id FROM {s}.items WHERE price = 99999999999999.999999;
SELECT id FROM {s}.items WHERE price > 12.345 AND price < 13;
SELECT sum(score), avg(score) FROM {s}.items;
SELECT id, round(price, 2), abs(score) FROM {s}.items WHERE id <= 12;
SELECT id, CAST(price AS double precision) FROM {s}.items WHERE id <= 5;
SELECT id, qty / 2, qty * 1.5 FROM {s}.items WHERE qty IS NOT NULL;

-- LIMIT, OFFSET, ORDER BY with NULLS FIRST/LAST
SELECT id FROM {s}.items ORDER BY id LIMIT 5;
SELECT id FROM {s}.items ORDER BY id DESC LIMIT 5 OFFSET 3;
SELECT id, qty FROM {s}.items ORDER BY qty NULLS FIRST, id;
SELECT id, qty FROM {s}.items ORDER BY qty NULLS LAST, id;
SELECT id, qty FROM {s}.items ORDER BY qty DESC NULLS FIRST, id;
SELECT id, qty FROM {s}.items ORDER BY qty DESC NULLS LAST, id;
SELECT id, name FROM {s}.items ORDER BY name, id;
SELECT id, category FROM {s}.items ORDER BY category DESC, id LIMIT 10;
SELECT * FROM (SELECT id, qty FROM {s}.items ORDER BY id LIMIT 20) AS t WHERE qty > 3;
SELECT count(*) FROM (SELECT id FROM {s}.items ORDER BY id LIMIT 7) AS t;
SELECT id FROM (SELECT id, price FROM {s}.items ORDER BY price DESC NULLS LAST, id LIMIT 10) AS t ORDER BY id;

-- aggregates, GROUP BY, HAVING, DISTINCT
SELECT count(*), count(qty), count(DISTINCT category), count(name) FROM {s}.items;
SELECT category, count(*), sum(qty), min(name), max(name) FROM {s}.items GROUP BY category;
SELECT category, sum(qty) FROM {s}.items GROUP BY category HAVING sum(qty) > 20;
SELECT category, count(*) FROM {s}.items GROUP BY category HAVING count(*) >= 10 ORDER BY category;
SELECT flag, avg(score) FROM {s}.items GROUP BY flag;
SELECT DISTINCT category FROM {s}.items;
SELECT DISTINCT qty % 3 FROM {s}.items;
SELECT category, qty IS NULL, count(*) FROM {s}.items GROUP BY category, qty IS NULL;
SELECT extract(month FROM created) AS m, count(*) FROM {s}.items GROUP BY extract(month FROM created);
SELECT count(*) FILTER (WHERE qty > 3), count(*) FILTER (WHERE {flag}) FROM {s}.items;

-- joins between tables of one source, LIMIT inside joins
SELECT o.order_id, i.name FROM {s}.orders o JOIN {s}.items i ON i.id = o.item_id;
SELECT o.order_id, i.name FROM {s}.orders o LEFT JOIN {s}.items i ON i.id = o.item_id;
SELECT i.id, count(o.order_id) FROM {s}.items i LEFT JOIN {s}.orders o ON o.item_id = i.id GROUP BY i.id;
SELECT o.order_id, i.id FROM {s}.orders o FULL JOIN {s}.items i ON i.id = o.item_id;
SELECT i.category, sum(o.amount) FROM {s}.orders o JOIN {s}.items i ON i.id = o.item_id WHERE o.placed >= DATE '2024-02-15' GROUP BY i.category;
SELECT o.order_id FROM {s}.orders o JOIN (SELECT id FROM {s}.items ORDER BY id LIMIT 5) AS first_items ON first_items.id = o.item_id;
SELECT t.order_id, i.name FROM (SELECT order_id, item_id FROM {s}.orders ORDER BY order_id LIMIT 10) AS t JOIN {s}.items i ON i.id = t.item_id;
SELECT a.id, b.id FROM {s}.items a JOIN {s}.items b ON a.qty = b.qty AND a.id < b.id WHERE a.id < 15;
SELECT i.id, o.note FROM {s}.items i JOIN {s}.orders o ON o.item_id = i.id AND o.note IS NULL;

-- IN lists, IN subqueries, EXISTS, scalar subqueries
SELECT id FROM {s}.items WHERE id IN (1, 3, 5, 70);
SELECT id FROM {s}.items WHERE category NOT IN ('a', 'b');
SELECT id FROM {s}.items WHERE id IN (SELECT item_id FROM {s}.orders WHERE amount > 40);
SELECT id FROM {s}.items WHERE id NOT IN (SELECT item_id FROM {s}.orders WHERE item_id IS NOT NULL);
SELECT id FROM {s}.items i WHERE EXISTS (SELECT 1 FROM {s}.orders o WHERE o.item_id = i.id AND o.amount = 0);
SELECT id FROM {s}.items i WHERE NOT EXISTS (SELECT 1 FROM {s}.orders o WHERE o.item_id = i.id);
SELECT id, (SELECT count(*) FROM {s}.orders o WHERE o.item_id = i.id) AS n FROM {s}.items i WHERE id <= 12;
SELECT id FROM {s}.items WHERE price > (SELECT avg(price) FROM {s}.items);

SELECT id FROM {s}.items i WHERE EXISTS (SELECT 1 FROM {s}.orders o WHERE o.item_id = i.id AND o.amount > 30 AND o.note IS NOT NULL);
SELECT id FROM {s}.items WHERE id IN (SELECT item_id FROM {s}.orders o WHERE o.placed > DATE '2024-02-20') AND qty > 2;
SELECT t.id FROM (SELECT id, qty FROM {s}.items WHERE qty > 1) AS t WHERE t.id > 20;
SELECT t.id FROM (SELECT i.id, i.qty FROM {s}.items AS i WHERE i.qty > 1) AS t JOIN {s}.orders o ON o.item_id = t.id WHERE o.amount > 20;
SELECT * FROM (SELECT id, qty FROM {s}.items ORDER BY id DESC LIMIT 30) AS t WHERE qty IS NULL;
SELECT count(*) FROM (SELECT * FROM {s}.orders WHERE amount > 10 LIMIT 50) AS t WHERE t.note IS NOT NULL;

-- UNION, UNION ALL, INTERSECT, EXCEPT
SELECT category FROM {s}.items UNION SELECT note FROM {s}.orders;
SELECT category FROM {s}.items WHERE id < 5 UNION ALL SELECT category FROM {s}.items WHERE id < 5;
SELECT item_id FROM {s}.orders INTERSECT SELECT id FROM {s}.items;
SELECT id FROM {s}.items EXCEPT SELECT item_id FROM {s}.orders;

-- window functions
SELECT id, row_number() OVER (PARTITION BY category ORDER BY id) FROM {s}.items;
SELECT id, rank() OVER (ORDER BY qty NULLS LAST), dense_rank() OVER (ORDER BY qty NULLS LAST) FROM {s}.items;
SELECT id, sum(qty) OVER (PARTITION BY category ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM {s}.items;
SELECT id, lag(id) OVER (ORDER BY id), lead(name) OVER (ORDER BY id) FROM {s}.items;
SELECT category, id, count(*) OVER (PARTITION BY category) FROM {s}.items;

-- common table expressions
WITH big AS (SELECT * FROM {s}.items WHERE qty > 4) SELECT category, count(*) FROM big GROUP BY category;
WITH o AS (SELECT item_id, sum(amount) AS total FROM {s}.orders GROUP BY item_id) SELECT i.name, o.total FROM {s}.items i JOIN o ON o.item_id = i.id WHERE o.total > 30;

-- joins with another source (lake.regions, a Parquet file)
SELECT o.order_id, r.region FROM {s}.orders o JOIN {s}.items i ON i.id = o.item_id JOIN lake.regions r ON r.category = i.category WHERE o.amount > 10 AND i.qty > 2;
SELECT i.id, r.region FROM {s}.items i LEFT JOIN lake.regions r ON r.category = i.category WHERE i.id < 20;
SELECT r.region, count(*), sum(i.qty) FROM {s}.items i JOIN lake.regions r ON r.category = i.category WHERE i.price > 2 GROUP BY r.region;
SELECT id FROM {s}.items WHERE category IN (SELECT category FROM lake.regions) AND qty > 3;
SELECT i.id FROM {s}.items i JOIN lake.regions r ON r.category = i.category ORDER BY i.id LIMIT 5;
SELECT t.id FROM (SELECT id, category FROM {s}.items WHERE qty > 1) AS t JOIN lake.regions r ON r.category = t.category WHERE t.id > 10;
SELECT r.region, i.name FROM lake.regions r JOIN {s}.items i ON i.category = r.category AND i.created >= DATE '2024-02-01';
