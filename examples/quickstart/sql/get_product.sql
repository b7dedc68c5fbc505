SELECT id, name, category, price, in_stock, added
FROM products
WHERE id = $id
