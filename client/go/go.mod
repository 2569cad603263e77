module capbroker

go 1.19
