module example.com/keyschema-languages

go 1.19
