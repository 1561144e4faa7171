-- Delivery receipts: the newest event a device of the member received, beside read_seq.
alter table room_member add column delivered_seq bigint not null default 0;
