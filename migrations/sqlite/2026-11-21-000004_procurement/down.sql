DROP TABLE invoice_lines;
DROP TABLE invoices;
DROP TABLE goods_receipt_lines;
DROP TABLE goods_receipts;
DROP TABLE purchase_order_lines;
DROP TABLE purchase_orders;
DROP TABLE supplier_products;
DROP TABLE suppliers;
