-- Keys for the clients' key tests, PostgreSQL side: a composite primary
-- key, a unique key, a composite foreign key, a mixed-case table, and a
-- key in a schema other than the default one.
CREATE TABLE customers (id integer PRIMARY KEY, email text UNIQUE, name text);
CREATE TABLE "Orders" (
  region text,
  order_no integer,
  customer_id integer REFERENCES customers (id),
  PRIMARY KEY (region, order_no)
);
CREATE TABLE lines (
  qty integer,
  region text,
  order_no integer,
  line integer,
  PRIMARY KEY (region, order_no, line),
  CONSTRAINT lines_order FOREIGN KEY (region, order_no) REFERENCES "Orders" (region, order_no)
);
CREATE SCHEMA audit;
CREATE TABLE audit.log (id integer PRIMARY KEY, customer_id integer REFERENCES public.customers (id));
