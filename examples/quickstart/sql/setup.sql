CREATE TABLE IF NOT EXISTS products (
  id INTEGER PRIMARY KEY,
  name VARCHAR NOT NULL,
  category VARCHAR NOT NULL,
  price DECIMAL(10, 2) NOT NULL,
  in_stock BOOLEAN NOT NULL,
  added DATE NOT NULL
);

INSERT INTO products
SELECT * FROM (VALUES
  (1, 'Trail Runner Shoes', 'footwear', 89.90, true, DATE '2024-03-01'),
  (2, 'Rain Jacket', 'outerwear', 129.00, true, DATE '2024-02-11'),
  (3, 'Wool Socks', 'footwear', 14.50, false, DATE '2023-11-20'),
  (4, 'Headlamp', 'gear', 39.99, true, DATE '2024-01-05'),
  (5, 'Water Bottle', 'gear', 19.00, true, DATE '2023-09-30')
) AS seed(id, name, category, price, in_stock, added)
WHERE NOT EXISTS (SELECT 1 FROM products);
