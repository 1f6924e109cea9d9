"""contract_tests"""
