module github.com/petrel-mq/petrel

go 1.26.8
