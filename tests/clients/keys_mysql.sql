-- Keys for the clients' key tests, MariaDB side.
CREATE TABLE customers (id int PRIMARY KEY, email varchar(100) UNIQUE, name text);
CREATE TABLE orders (
  region varchar(10),
  order_no int,
  customer_id int,
  PRIMARY KEY (region, order_no),
  CONSTRAINT orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id)
);
